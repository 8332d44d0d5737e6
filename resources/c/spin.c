/* spin [ANYTHING...]: loops forever in user mode without a syscall. The
 * arguments are ignored: tests pass a unique marker so that they can find
 * leftover processes by their command line. */
int main(void)
{
    for (;;)
        __asm__ volatile("" ::: "memory");
}
