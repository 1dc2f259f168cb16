// What `thud-train adapt --follow` asks of Linux about its own process that Swift cannot import: prctl is variadic,
// and setpriority's `which` is an enum Glibc's overlay types awkwardly. Nothing else lives here.
#pragma once
#include <sys/types.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <signal.h>
#endif

/// Asks for `sig` when the parent process (strictly: the thread that started this process) ends, however it ends.
/// Returns 0, or -1 with errno set (and -1 with ENOSYS off Linux).
static inline int thud_set_parent_death_signal(int sig) {
#ifdef __linux__
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
#else
    (void)sig;
    return -1;
#endif
}

/// The nice value of one thread (Linux: `id` a thread id; setpriority's PRIO_PROCESS names one thread there).
static inline int thud_get_thread_nice(pid_t id) { return getpriority(PRIO_PROCESS, (id_t)id); }
static inline int thud_set_thread_nice(pid_t id, int nice) { return setpriority(PRIO_PROCESS, (id_t)id, nice); }
