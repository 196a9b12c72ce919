// Threads through static glibc's pthreads: clone, futexes, TLS, joins.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#define N 8
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter;
static int ready;
static __thread int tls;

static void *worker(void *arg) {
	long id = (long)arg;
	tls = (int)id;
	for (int i = 0; i < 10000; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	pthread_mutex_lock(&mu);
	ready++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return (void *)(long)(tls * 2 + (syscall(SYS_gettid) != getpid()));
}

int main(void) {
	pthread_t th[N];
	for (long i = 0; i < N; i++) pthread_create(&th[i], NULL, worker, (void *)i);
	pthread_mutex_lock(&mu);
	while (ready < N) pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	long sum = 0;
	for (int i = 0; i < N; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		sum += (long)rv;
	}
	printf("counter %ld\n", counter);
	printf("return values sum %ld\n", sum);
	return 0;
}
