/*
 * bench/runstat - runs a command and records what it cost.
 *
 *   runstat [-t seconds] -o file command [arg ...]
 *
 * Writes one line to file:
 *
 *   wall_s user_s sys_s maxrss_kib status
 *
 * wall_s is measured with CLOCK_MONOTONIC from fork to the child's end;
 * user_s, sys_s and maxrss_kib come from getrusage(RUSAGE_CHILDREN), so
 * they cover every descendant the command waited for: CPU time is summed
 * over them, peak RSS is that of the largest one (it is a maximum, not a
 * sum). status is the exit status, or 128 + the signal number, or 124 when
 * the -t limit ended it (as timeout(1) does).
 *
 * The command runs in its own process group, so that -t and an interrupt of
 * runstat end the whole command, shells and pipelines included. runstat
 * exits with the command's status. Standard input, output and error are the
 * command's own.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pgid;
static volatile sig_atomic_t timed_out;

/*
 * At the limit, SIGTERM first, so that a nested runstat can pass it on to
 * its own group; whatever is left 3 seconds later gets SIGKILL.
 */
static void on_alarm(int sig)
{
	(void)sig;
	if (child_pgid <= 0)
		return;
	if (!timed_out) {
		timed_out = 1;
		kill(-(pid_t)child_pgid, SIGTERM);
		alarm(3);
	} else {
		kill(-(pid_t)child_pgid, SIGKILL);
	}
}

static void on_interrupt(int sig)
{
	if (child_pgid > 0)
		kill(-(pid_t)child_pgid, sig);
}

static double seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *outpath = NULL;
	unsigned limit = 0;
	struct timespec t0, t1;
	struct sigaction sa;
	struct rusage ru;
	pid_t pid;
	int i, st, status;
	FILE *f;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			outpath = argv[++i];
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			limit = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			break;
	}
	if (!outpath || i >= argc) {
		fputs("usage: runstat [-t seconds] -o file command [arg ...]\n", stderr);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 125;
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[i], argv + i);
		fprintf(stderr, "runstat: cannot run '%s': %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	/* Both sides set the group, so that no signal can find it unset. */
	setpgid(pid, pid);
	child_pgid = pid;
	if (limit)
		alarm(limit);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("runstat: waitpid");
			return 125;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	alarm(0);
	child_pgid = 0;
	getrusage(RUSAGE_CHILDREN, &ru);

	if (timed_out)
		status = 124;
	else if (WIFEXITED(st))
		status = WEXITSTATUS(st);
	else
		status = 128 + WTERMSIG(st);

	f = fopen(outpath, "w");
	if (!f) {
		fprintf(stderr, "runstat: cannot create '%s': %s\n", outpath, strerror(errno));
		return 125;
	}
	fprintf(f, "%.4f %.3f %.3f %ld %d\n",
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_maxrss, status);
	if (fclose(f) != 0) {
		fprintf(stderr, "runstat: cannot write '%s': %s\n", outpath, strerror(errno));
		return 125;
	}
	return status;
}
