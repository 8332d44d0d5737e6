/* File syscalls under a base directory (argv[1]), one result line each, so
 * that a native run and a sandboxed run can be compared byte for byte. No
 * absolute paths, inode numbers or times are printed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "common.h"

#define SHOW(label, expr) do { long r_ = (long)(expr); outf(1, "%-28s %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : ""); } while (0)

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *dir)
{
    char buf[4096], *names[256];
    int n = 0, fd = open(dir, O_RDONLY | O_DIRECTORY);
    long r;
    while (fd >= 0 && (r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            struct { unsigned long ino; long off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buf + off);
            if (n < 256)
                names[n++] = strdup(d->name);
            off += d->reclen;
        }
    }
    qsort(names, n, sizeof names[0], cmp);
    outf(1, "list %s:", dir);
    for (int i = 0; i < n; i++)
        outf(1, " %s", names[i]);
    outf(1, "\n");
    close(fd);
}

int main(int argc, char **argv)
{
    char buf[256];
    struct stat st;
    if (argc < 2 || chdir(argv[1]) != 0)
        return 2;
    SHOW("mkdir d", mkdir("d", 0755));
    SHOW("mkdir d again", mkdir("d", 0755));
    SHOW("mkdir d/e/f (no parent)", mkdir("d/e/f", 0755));
    int fd = open("d/f", O_CREAT | O_RDWR | O_EXCL, 0640);
    SHOW("open d/f O_CREAT|O_EXCL", fd >= 0 ? 0 : -1);
    SHOW("open d/f O_EXCL again", open("d/f", O_CREAT | O_EXCL | O_WRONLY, 0640));
    SHOW("write 11", write(fd, "hello world", 11));
    SHOW("lseek SEEK_SET 6", lseek(fd, 6, SEEK_SET));
    SHOW("read 5", read(fd, buf, 5));
    outf(1, "  data %.5s\n", buf);
    SHOW("pwrite at 20", pwrite(fd, "X", 1, 20));
    SHOW("fstat", fstat(fd, &st));
    outf(1, "  size %ld mode %o nlink %ld\n", (long)st.st_size, st.st_mode, (long)st.st_nlink);
    SHOW("pread at 18", pread(fd, buf, 10, 18));
    outf(1, "  bytes %d %d %c\n", buf[0], buf[1], buf[2]);
    SHOW("lseek SEEK_END -1", lseek(fd, -1, SEEK_END));
    SHOW("lseek negative", lseek(fd, -100, SEEK_SET));
    SHOW("ftruncate 5", ftruncate(fd, 5));
    SHOW("close", close(fd));
    SHOW("close again", close(fd));
    SHOW("stat d/f", stat("d/f", &st));
    outf(1, "  size %ld\n", (long)st.st_size);
    SHOW("symlink f -> d/l", symlink("f", "d/l"));
    ssize_t n = readlink("d/l", buf, sizeof buf);
    SHOW("readlink d/l", n);
    outf(1, "  target %.*s\n", (int)(n > 0 ? n : 0), buf);
    SHOW("lstat d/l", lstat("d/l", &st));
    outf(1, "  is link %d\n", S_ISLNK(st.st_mode));
    SHOW("stat d/l (follows)", stat("d/l", &st));
    outf(1, "  is reg %d size %ld\n", S_ISREG(st.st_mode), (long)st.st_size);
    SHOW("symlink loop a->b", symlink("b", "d/a"));
    SHOW("symlink loop b->a", symlink("a", "d/b"));
    SHOW("open loop", open("d/a", O_RDONLY));
    SHOW("open O_NOFOLLOW link", open("d/l", O_RDONLY | O_NOFOLLOW));
    SHOW("link d/f d/h", link("d/f", "d/h"));
    SHOW("stat nlink", stat("d/f", &st));
    outf(1, "  nlink %ld\n", (long)st.st_nlink);
    SHOW("rename d/h d/g", rename("d/h", "d/g"));
    SHOW("rename into itself", rename("d", "d/x"));
    SHOW("rename missing", rename("d/nope", "d/z"));
    list("d");
    SHOW("rmdir d (not empty)", rmdir("d"));
    SHOW("unlink d (a dir)", unlink("d"));
    SHOW("open d/f/x (ENOTDIR)", open("d/f/x", O_RDONLY));
    SHOW("open d/missing", open("d/missing", O_RDONLY));
    SHOW("open d for write", open("d", O_WRONLY));
    SHOW("chmod d/f 600", chmod("d/f", 0600));
    SHOW("stat mode", stat("d/f", &st));
    outf(1, "  mode %o\n", st.st_mode & 07777);
    SHOW("access d/f X_OK", access("d/f", X_OK));
    SHOW("access d/f R_OK", access("d/f", R_OK));
    SHOW("truncate d/f 100", truncate("d/f", 100));
    SHOW("stat size", stat("d/f", &st));
    outf(1, "  size %ld blocks>0 %d\n", (long)st.st_size, st.st_blocks > 0);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    struct open_how how = { .flags = O_RDONLY };
    how.resolve = RESOLVE_BENEATH;
    SHOW("openat2 BENEATH ../d/f", syscall(SYS_openat2, dfd, "../d/f", &how, sizeof how));
    SHOW("openat2 BENEATH f", syscall(SYS_openat2, dfd, "f", &how, sizeof how) >= 0 ? 0 : -1);
    SHOW("openat2 BENEATH /etc", syscall(SYS_openat2, dfd, "/etc", &how, sizeof how));
    how.resolve = RESOLVE_NO_SYMLINKS;
    SHOW("openat2 NO_SYMLINKS l", syscall(SYS_openat2, dfd, "l", &how, sizeof how));
    how.resolve = RESOLVE_IN_ROOT;
    SHOW("openat2 IN_ROOT /f", syscall(SYS_openat2, dfd, "/f", &how, sizeof how) >= 0 ? 0 : -1);
    SHOW("openat2 IN_ROOT /../../f", syscall(SYS_openat2, dfd, "/../../f", &how, sizeof how) >= 0 ? 0 : -1);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_BENEATH;
    SHOW("openat2 IN_ROOT|BENEATH", syscall(SYS_openat2, dfd, "f", &how, sizeof how));
    how.resolve = 0;
    SHOW("openat2 small size", syscall(SYS_openat2, dfd, "f", &how, 8));
    close(dfd);
    SHOW("chdir d", chdir("d"));
    char *cwd = getcwd(buf, sizeof buf);
    const char *base = strrchr(cwd ? cwd : "", '/');
    outf(1, "getcwd ends with %s\n", base ? base : "?");
    SHOW("open ../d/f via ..", open("../d/f", O_RDONLY));
    SHOW("chdir ..", chdir(".."));
    struct stat a, b;
    SHOW("stat / and /..", stat("/", &a) | stat("/..", &b));
    outf(1, "  same %d\n", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    const char *rm[] = { "d/a", "d/b", "d/l", "d/f", "d/g" };
    for (unsigned i = 0; i < sizeof rm / sizeof rm[0]; i++)
        SHOW(rm[i], unlink(rm[i]));
    SHOW("rmdir d", rmdir("d"));
    list(".");
    return 0;
}
