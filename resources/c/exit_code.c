/* exit_code N: exits with status N (the kernel keeps N & 0xff). */
#include <stdlib.h>
#include "common.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        outf(2, "usage: exit_code N\n");
        return 2;
    }
    exit((int)strtol(argv[1], NULL, 0));
}
