// Tries every way develtrace's filter must trace or refuse, each on a
// harmless target (a file named by argv[1], which is read, never changed),
// and prints "NAME RESULT" per attempt: RESULT is "ok" or the errno name.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void result(const char *name, long rc) {
    printf("%s %s\n", name, rc < 0 ? strerrorname_np(errno) : "ok");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *file = argv[1];

    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    long ring = syscall(SYS_io_uring_setup, 4, &params);
    result("io_uring_setup", ring);
    if (ring >= 0) close((int)ring);

    struct {
        struct file_handle handle;
        unsigned char bytes[128];
    } handle;
    handle.handle.handle_bytes = 128;
    int mount_id;
    long rc = syscall(SYS_name_to_handle_at, AT_FDCWD, file, &handle.handle, &mount_id, 0);
    result("name_to_handle_at", rc);
    rc = syscall(SYS_open_by_handle_at, AT_FDCWD, &handle.handle, O_RDONLY);
    result("open_by_handle_at", rc);
    if (rc >= 0) close((int)rc);

    // clone(CLONE_UNTRACED): the child, if any, opens the file and exits.
    rc = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) {
        int fd = open(file, O_RDONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    result("clone_untraced", rc);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);

    rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    result("clone_newuser", rc);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);

    rc = unshare(CLONE_NEWUSER | CLONE_NEWNS);
    result("unshare_newns", rc);

    // A PID namespace of its own (the sandbox's root may make one): its
    // tasks would not be the sandbox namespace's the recorder watches.
    rc = unshare(CLONE_NEWPID);
    result("unshare_newpid", rc);
    rc = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    result("clone_newpid", rc);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);

    // clone3 with an empty argument block: refused before it is read.
    char args[88];
    memset(args, 0, sizeof args);
    rc = syscall(435 /* clone3 */, args, sizeof args);
    if (rc == 0) _exit(0);
    result("clone3", rc);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);

    // Calls newer than libseccomp 2.5 knows: getxattrat (464), file_getattr (468).
    char buffer[64];
    rc = syscall(464, AT_FDCWD, file, 0, "user.x", buffer, sizeof buffer);
    result("getxattrat", rc);
    rc = syscall(468, AT_FDCWD, file, buffer, 0, 0);
    result("file_getattr", rc);

    // x32: open(2) through the x32 ABI.
    rc = syscall(0x40000000 | 2, file, O_RDONLY);
    result("x32_open", rc);
    if (rc >= 0) close((int)rc);
    return 0;
}
