/* cacheinfo: prints the cache geometry glibc reports through sysconf, one
 * "name value" line each. glibc computes it once at startup from CPUID
 * (leaf 2 descriptors, or leaf 4 on Intel; 0x8000_0005/6 or 0x8000_001d on
 * AMD), so this shows what programs in the sandbox learn from the guest's
 * CPUID table. */
#include <unistd.h>

#include "common.h"

int main(void)
{
    static const struct {
        const char *name;
        int sc;
    } rows[] = {
        {"l1d_size", _SC_LEVEL1_DCACHE_SIZE},
        {"l1d_assoc", _SC_LEVEL1_DCACHE_ASSOC},
        {"l1d_line", _SC_LEVEL1_DCACHE_LINESIZE},
        {"l1i_size", _SC_LEVEL1_ICACHE_SIZE},
        {"l1i_assoc", _SC_LEVEL1_ICACHE_ASSOC},
        {"l1i_line", _SC_LEVEL1_ICACHE_LINESIZE},
        {"l2_size", _SC_LEVEL2_CACHE_SIZE},
        {"l2_assoc", _SC_LEVEL2_CACHE_ASSOC},
        {"l2_line", _SC_LEVEL2_CACHE_LINESIZE},
        {"l3_size", _SC_LEVEL3_CACHE_SIZE},
        {"l3_assoc", _SC_LEVEL3_CACHE_ASSOC},
        {"l3_line", _SC_LEVEL3_CACHE_LINESIZE},
        {"l4_size", _SC_LEVEL4_CACHE_SIZE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        outf(1, "%s %ld\n", rows[i].name, sysconf(rows[i].sc));
    return 0;
}
