/* File permission checks (DAC), as Linux does them.
 *
 * Usage: perms BASE MODE. Run as root: prepares a fixture in a new
 * directory under BASE (files and directories with various owners and
 * modes), then takes the identity MODE names and runs a table of
 * operations, printing each one's result (ok or the errno name):
 *   user   uid 1000, gid 1000, supplementary group 2000, no capabilities;
 *   nocap  uid 0 with the OCI default capabilities less CAP_DAC_OVERRIDE,
 *          CAP_DAC_READ_SEARCH and CAP_FOWNER (root gets no bypass);
 *   root   uid 0 with the OCI default capabilities.
 * The table runs in a child; the fixture is removed by the parent, root. Exits 0; setup failures print "FAIL ..." and exit 1. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

static const uint64_t DEFAULT_CAPS = (1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FSETID) |
                                     (1ULL << CAP_FOWNER) | (1ULL << CAP_MKNOD) | (1ULL << CAP_NET_RAW) |
                                     (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID) | (1ULL << CAP_SETFCAP) |
                                     (1ULL << CAP_SETPCAP) | (1ULL << CAP_NET_BIND_SERVICE) |
                                     (1ULL << CAP_SYS_CHROOT) | (1ULL << CAP_KILL) | (1ULL << CAP_AUDIT_WRITE);

static const char *errname(int e)
{
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOEXEC: return "ENOEXEC";
    case EROFS: return "EROFS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EBADF: return "EBADF";
    default: return "other";
    }
}

static void fail(const char *what)
{
    outf(1, "FAIL %s: %s\n", what, strerror(errno));
    _exit(1);
}

/* Prints the result of one operation: r < 0 means errno. */
static void report(const char *what, long r)
{
    outf(1, "%s: %s\n", what, errname(r < 0 ? errno : 0));
}

static void mkfile(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "data\n", 5) != 5 || close(fd) != 0)
        fail(path);
    if (chown(path, uid, gid) != 0 || chmod(path, mode) != 0)
        fail(path);
}

static void mkdir_as(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    if (mkdir(path, 0700) != 0 || chown(path, uid, gid) != 0 || chmod(path, mode) != 0)
        fail(path);
}

static void prepare(void)
{
    mkfile("secret", 0600, 0, 0);
    mkfile("readable", 0644, 0, 0);
    mkfile("writable", 0666, 0, 0);
    mkfile("group_rw", 0660, 0, 2000);
    mkfile("other_group", 0660, 0, 3000);
    mkfile("mine", 0644, 1000, 1000);
    mkfile("owner_denied", 0066, 1000, 1000);
    mkfile("not_exec", 0644, 0, 0);
    mkfile("exec_other_only", 0001, 0, 0);
    mkfile("setid", 06755, 1000, 1000);
    mkdir_as("rootdir", 0755, 0, 0);
    mkfile("rootdir/f", 0644, 0, 0);
    mkdir_as("noexec_dir", 0744, 0, 0);
    mkfile("noexec_dir/f", 0644, 0, 0);
    mkdir_as("noread_dir", 0711, 0, 0);
    mkfile("noread_dir/f", 0644, 0, 0);
    mkdir_as("private", 0700, 0, 0);
    mkfile("private/f", 0644, 0, 0);
    mkdir_as("open", 0777, 0, 0);
    mkdir_as("sticky", 01777, 0, 0);
    mkfile("sticky/theirs", 0666, 1001, 1001);
    mkfile("sticky/mine", 0666, 1000, 1000);
    mkdir_as("sgid", 02777, 0, 2500);
    mkdir_as("mydir", 0755, 1000, 1000);
    mkdir_as("mydir/sub", 0755, 1000, 1000);
}

static int capset_eff(uint64_t caps)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)caps, (uint32_t)caps, 0 },
        { (uint32_t)(caps >> 32), (uint32_t)(caps >> 32), 0 },
    };
    return (int)syscall(SYS_capset, &h, d);
}

static void become(const char *mode)
{
    if (strcmp(mode, "user") == 0) {
        gid_t groups[] = { 2000 };
        if (setgroups(1, groups) != 0 || setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0)
            fail("switch to uid 1000");
    } else if (strcmp(mode, "nocap") == 0) {
        uint64_t drop = (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_DAC_READ_SEARCH) | (1ULL << CAP_FOWNER);
        if (setgroups(0, NULL) != 0 || capset_eff(DEFAULT_CAPS & ~drop) != 0)
            fail("drop capabilities");
    } else if (strcmp(mode, "root") == 0) {
        if (setgroups(0, NULL) != 0 || capset_eff(DEFAULT_CAPS) != 0)
            fail("set capabilities");
    } else {
        outf(1, "FAIL unknown mode %s\n", mode);
        _exit(1);
    }
}

static void open_case(const char *what, const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    report(what, fd);
    if (fd >= 0)
        close(fd);
}

static void show_owner(const char *what, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        outf(1, "%s: %s\n", what, errname(errno));
        return;
    }
    outf(1, "%s: uid %u gid %u mode %04o\n", what, st.st_uid, st.st_gid, st.st_mode & 07777);
}

static void table(void)
{
    struct stat st;
    /* open */
    open_case("open secret O_RDONLY", "secret", O_RDONLY);
    open_case("open readable O_RDONLY", "readable", O_RDONLY);
    open_case("open readable O_WRONLY", "readable", O_WRONLY);
    open_case("open readable O_RDONLY|O_TRUNC", "readable", O_RDONLY | O_TRUNC);
    open_case("open writable O_RDWR", "writable", O_RDWR);
    open_case("open group_rw O_RDWR", "group_rw", O_RDWR);
    open_case("open other_group O_RDONLY", "other_group", O_RDONLY);
    open_case("open owner_denied O_RDONLY", "owner_denied", O_RDONLY);
    open_case("open secret O_PATH", "secret", O_PATH);
    open_case("open rootdir/new O_CREAT", "rootdir/new", O_CREAT | O_WRONLY);
    open_case("open rootdir/f O_CREAT existing", "rootdir/f", O_CREAT | O_RDONLY);
    open_case("open rootdir/f O_CREAT|O_EXCL existing", "rootdir/f", O_CREAT | O_EXCL | O_RDONLY);
    int fd = open("open/created0444", O_CREAT | O_RDWR, 0444);
    report("open open/created0444 O_CREAT|O_RDWR mode 0444", fd);
    if (fd >= 0)
        close(fd);
    open_case("open rootdir O_RDONLY|O_DIRECTORY", "rootdir", O_RDONLY | O_DIRECTORY);
    open_case("open noread_dir O_RDONLY|O_DIRECTORY", "noread_dir", O_RDONLY | O_DIRECTORY);
    open_case("open private/f O_RDONLY", "private/f", O_RDONLY);
    open_case("open noexec_dir/f O_RDONLY", "noexec_dir/f", O_RDONLY);
    open_case("open noread_dir/f O_RDONLY", "noread_dir/f", O_RDONLY);
    /* walk */
    report("stat private/f", stat("private/f", &st));
    report("stat noexec_dir/f", stat("noexec_dir/f", &st));
    report("stat noread_dir/f", stat("noread_dir/f", &st));
    report("stat private/../readable", stat("private/../readable", &st));
    report("stat private", stat("private", &st));
    /* access */
    report("access secret R_OK", access("secret", R_OK));
    report("access readable R_OK", access("readable", R_OK));
    report("access readable W_OK", access("readable", W_OK));
    report("access not_exec X_OK", access("not_exec", X_OK));
    report("access exec_other_only X_OK", access("exec_other_only", X_OK));
    report("access private X_OK", access("private", X_OK));
    report("access private/f F_OK", access("private/f", F_OK));
    report("faccessat2 secret R_OK AT_EACCESS", syscall(SYS_faccessat2, AT_FDCWD, "secret", R_OK, AT_EACCESS));
    /* exec */
    char *argv[] = { "x", NULL };
    report("execve not_exec", execve("not_exec", argv, argv + 1));
    report("execve rootdir", execve("rootdir", argv, argv + 1));
    report("execve exec_other_only", execve("exec_other_only", argv, argv + 1));
    /* chdir */
    report("chdir private", chdir("private") == 0 ? chdir("..") : -1);
    report("chdir noread_dir", chdir("noread_dir") == 0 ? chdir("..") : -1);
    /* directory entries */
    report("mkdir rootdir/d", mkdir("rootdir/d", 0755));
    report("mkdir rootdir/f existing", mkdir("rootdir/f", 0755));
    report("mkdir open/d", mkdir("open/d", 0755));
    show_owner("owner of open/d", "open/d");
    show_owner("owner of open/created0444", "open/created0444");
    report("unlink rootdir/f", unlink("rootdir/f"));
    report("unlink rootdir/missing", unlink("rootdir/missing"));
    report("rename rootdir/f to open/f", rename("rootdir/f", "open/f"));
    report("rename mine to rootdir/x", rename("mine", "rootdir/x"));
    report("rename mydir/sub to open/sub", rename("mydir/sub", "open/sub"));
    report("symlink in rootdir", symlink("target", "rootdir/l"));
    report("symlink in open", symlink("target", "open/l"));
    show_owner("owner of open/l", "open/l");
    report("link secret to open/hard", link("secret", "open/hard"));
    report("link writable to open/hard2", link("writable", "open/hard2"));
    report("link mine to open/hard3", link("mine", "open/hard3"));
    report("mkfifo in rootdir", mkfifo("rootdir/fifo", 0644));
    report("rmdir open/d", rmdir("open/d"));
    /* sticky */
    report("unlink sticky/theirs", unlink("sticky/theirs"));
    report("rename sticky/theirs", rename("sticky/theirs", "sticky/moved"));
    report("unlink sticky/mine", unlink("sticky/mine"));
    /* set-group-ID directory */
    open_case("create sgid/f", "sgid/f", O_CREAT | O_WRONLY);
    show_owner("owner of sgid/f", "sgid/f");
    report("mkdir sgid/d", mkdir("sgid/d", 0755));
    show_owner("owner of sgid/d", "sgid/d");
    /* attributes */
    report("chmod mine 0600", chmod("mine", 0600));
    report("chmod mine 02755", chmod("mine", 02755));
    show_owner("mode of mine", "mine");
    report("chmod secret 0644", chmod("secret", 0644));
    report("chown mine to 1001", chown("mine", 1001, -1));
    report("chown mine to 1000:2000", chown("mine", 1000, 2000));
    report("chown mine group 3000", chown("mine", -1, 3000));
    show_owner("owner of mine", "mine");
    report("chown setid to 1000:1000", chown("setid", 1000, 1000));
    show_owner("mode of setid", "setid");
    report("chown readable to 0:0", chown("readable", 0, 0));
    report("utimes writable now", utimensat(AT_FDCWD, "writable", NULL, 0));
    report("utimes readable now", utimensat(AT_FDCWD, "readable", NULL, 0));
    struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
    report("utimes writable explicit", utimensat(AT_FDCWD, "writable", ts, 0));
    report("utimes group_rw explicit", utimensat(AT_FDCWD, "group_rw", ts, 0));
    report("truncate writable", truncate("writable", 1));
    report("truncate readable", truncate("readable", 1));
    report("truncate secret", truncate("secret", 1));
    /* /proc of one's own process */
    DIR *d = opendir("/proc/self/fd");
    report("opendir /proc/self/fd", d ? 0 : -1);
    if (d)
        closedir(d);
    open_case("open /proc/self/status", "/proc/self/status", O_RDONLY);
}

/* Removes `path` (relative to `at`) and everything below it. */
static int remove_tree(int at, const char *path)
{
    struct stat st;
    if (fstatat(at, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(at, path, 0);
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && remove_tree(fd, e->d_name) != 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return unlinkat(at, path, AT_REMOVEDIR);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        outf(1, "FAIL usage: perms BASE user|nocap|root\n");
        return 1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/perms.XXXXXX", argv[1]);
    if (!mkdtemp(dir) || chmod(dir, 0755) != 0 || chdir(dir) != 0)
        fail("fixture directory");
    umask(022);
    prepare();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        become(argv[2]);
        table();
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid");
    if (chdir("/") != 0 || remove_tree(AT_FDCWD, dir) != 0)
        fail("remove the fixture");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
