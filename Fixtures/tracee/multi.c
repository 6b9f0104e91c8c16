// A tracee that exercises what a build tracer must follow: threads, openat
// with a real directory fd, openat2, execveat, vfork, posix_spawn, an exec
// from a thread other than the leader, and a file whose name is not valid
// UTF-8. Usage: multi WORKDIR (an empty directory).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void *worker(void *arg) {
    long n = (long)arg;
    char path[64];
    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof path, "thread-%ld-%d.missing", n, i);
        int fd = open(path, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    snprintf(path, sizeof path, "thread-%ld.out", n);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
    struct stat st;
    stat("/etc/passwd", &st);
    return NULL;
}

// Runs `cat from-a-thread.out` by an exec from a second thread: the kernel
// gives the thread the leader's pid.
static void *exec_from_thread(void *arg) {
    (void)arg;
    char *args[] = {"cat", "from-a-thread.out", NULL};
    execve("/bin/cat", args, environ);
    _exit(127);
}

static void wait_for(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
}

int main(int argc, char **argv) {
    if (argc < 2 || chdir(argv[1]) < 0) return 2;

    pthread_t threads[4];
    for (long i = 0; i < 4; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);

    // openat relative to a real directory descriptor.
    mkdir("sub", 0755);
    int dir = open("sub", O_RDONLY | O_DIRECTORY);
    int fd = openat(dir, "inner.txt", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
    fd = openat(dir, "absent.h", O_RDONLY);
    if (fd >= 0) close(fd);
    faccessat(dir, "inner.txt", R_OK, 0);

    // openat2 with RESOLVE_BENEATH: one inside, one escaping (EXDEV).
    struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_BENEATH};
    fd = (int)syscall(SYS_openat2, dir, "inner.txt", &how, sizeof how);
    if (fd >= 0) close(fd);
    fd = (int)syscall(SYS_openat2, dir, "../sub/inner.txt", &how, sizeof how);
    if (fd >= 0) close(fd);

    // A name that is not UTF-8.
    fd = open("bad-\xff\xfe-name.h", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
    fd = open("bad-\xff\xfe-name.h", O_RDONLY);
    if (fd >= 0) close(fd);

    // rename, symlink, readlink, unlink, mkdir/rmdir.
    rename("thread-0.out", "renamed.out");
    symlink("renamed.out", "link.out");
    char buffer[256];
    readlink("link.out", buffer, sizeof buffer);
    readlink("renamed.out", buffer, sizeof buffer);
    unlink("thread-1.out");
    mkdir("gone", 0755);
    rmdir("gone");

    // execveat relative to a directory descriptor, in a forked child.
    pid_t child = fork();
    if (child == 0) {
        int bin = open("/bin", O_RDONLY | O_DIRECTORY);
        char *args[] = {"true", NULL};
        syscall(SYS_execveat, bin, "true", args, environ, 0);
        _exit(127);
    }
    wait_for(child);

    // vfork + exec, of a program that exists and one that does not.
    child = vfork();
    if (child == 0) {
        char *args[] = {"true", NULL};
        execve("/bin/true", args, environ);
        _exit(127);
    }
    wait_for(child);
    child = vfork();
    if (child == 0) {
        char *args[] = {"nothing", NULL};
        execve("/nonexistent/nothing", args, environ);
        _exit(127);
    }
    wait_for(child);

    // posix_spawn (clone(CLONE_VM|CLONE_VFORK) in glibc).
    char *args[] = {"cat", "renamed.out", NULL};
    if (posix_spawn(&child, "/bin/cat", NULL, NULL, args, environ) == 0) wait_for(child);

    // An exec from a thread other than the leader, in a forked child whose
    // leader waits in pthread_join (the exec ends it).
    fd = open("from-a-thread.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
    child = fork();
    if (child == 0) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, exec_from_thread, NULL) != 0) _exit(126);
        pthread_join(thread, NULL);
        _exit(125);
    }
    wait_for(child);
    return 0;
}
