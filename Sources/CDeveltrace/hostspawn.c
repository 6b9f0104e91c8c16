// Host tools (dpkg-deb, cp, gcc --version) started with posix_spawn: the
// parent waits for its own child with waitpid, where Foundation's Process
// polled a run loop every 50 ms for the child's end.
#define _GNU_SOURCE
#include "CDeveltrace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

extern char **environ;

pid_t dt_spawn_host(char *const argv[], int input, int output, int error, const char *directory) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return -result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -result;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    // No signal blocked or ignored as develtrace's threads have them; the
    // child's descriptors are the three given and nothing else.
    if ((result = posix_spawnattr_setsigmask(&attributes, &none)) == 0 &&
        (result = posix_spawnattr_setsigdefault(&attributes, &all)) == 0 &&
        (result = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0 &&
        (result = posix_spawn_file_actions_adddup2(&actions, input, 0)) == 0 &&
        (result = posix_spawn_file_actions_adddup2(&actions, output, 1)) == 0 &&
        (result = posix_spawn_file_actions_adddup2(&actions, error, 2)) == 0 &&
        (directory == NULL || (result = posix_spawn_file_actions_addchdir_np(&actions, directory)) == 0) &&
        (result = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0) {
        pid_t pid;
        result = posix_spawnp(&pid, argv[0], &actions, &attributes, argv, environ);
        if (result == 0) result = -pid;
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return -result;
}
