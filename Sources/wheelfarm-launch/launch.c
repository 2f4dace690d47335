/*
 * wheelfarm-launch FILTER -- COMMAND...
 *
 * Runs inside a build's sandbox, as the unprivileged user, as the last step before the
 * command: it loads the seccomp filter (a BPF program wheelfarm compiled with libseccomp)
 * and executes the command under it. no_new_privs is already set (setpriv), which is what
 * lets an unprivileged process install a filter. It is linked statically so that it runs in
 * any root, whatever its C library, and under emulation of another architecture too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_PROGRAM (64 * 1024)

static int fail(const char *what) {
    fprintf(stderr, "wheelfarm-sandbox: %s: %s\n", what, strerror(errno));
    return 125;
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: wheelfarm-launch FILTER -- COMMAND...\n");
        return 125;
    }
    static unsigned char program[MAX_PROGRAM];
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return fail("cannot open the seccomp filter");
    size_t size = 0;
    for (;;) {
        ssize_t n = read(fd, program + size, sizeof(program) - size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("cannot read the seccomp filter");
        if (n == 0) break;
        size += (size_t)n;
        if (size == sizeof(program)) { errno = EFBIG; return fail("the seccomp filter is too large"); }
    }
    close(fd);
    if (size == 0 || size % sizeof(struct sock_filter) != 0) { errno = EINVAL; return fail("the seccomp filter is malformed"); }
    struct sock_fprog fprog = { .len = (unsigned short)(size / sizeof(struct sock_filter)), .filter = (struct sock_filter *)program };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("cannot set no_new_privs");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) return fail("cannot load the seccomp filter");
    execvp(argv[3], argv + 3);
    fprintf(stderr, "wheelfarm-sandbox: cannot run %s: %s\n", argv[3], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
