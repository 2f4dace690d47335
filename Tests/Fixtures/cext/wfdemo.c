/* A library outside every policy, which itself needs another one (libwfdep). */
#include <pthread.h>
int wfdep_base(void);

static void *worker(void *arg) { *(int *)arg = wfdep_base() + 2; return 0; }

/* Uses a thread so that the library references pthread_create (GLIBC_2.34 on Debian 12). */
int wfdemo_answer(void) {
    pthread_t thread;
    int result = 0;
    if (pthread_create(&thread, 0, worker, &result) != 0) return -1;
    pthread_join(thread, 0);
    return result;
}
