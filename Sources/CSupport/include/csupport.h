#ifndef WHEELFARM_CSUPPORT_H
#define WHEELFARM_CSUPPORT_H
#include <spawn.h>

/* GNU extensions that Swift's Glibc module does not expose without _GNU_SOURCE. */

/* pipe2 with O_CLOEXEC: no window in which another thread's child inherits the pipe. */
int wf_pipe_cloexec(int fds[2]);

/* posix_spawn_file_actions_addchdir_np (glibc 2.29). */
int wf_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/* memmem (a GNU extension the Glibc module does not expose): multipart boundaries. */
const void *wf_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length);

/* posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child gets no descriptor but the
   ones it is handed, whatever the parent has open without close-on-exec. */
int wf_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/* POSIX_SPAWN_SETSID: the child starts a new session, without a controlling terminal. */
int wf_spawnattr_setsid(posix_spawnattr_t *attributes);

#endif
