/*
 * loopserve.h - the listening side of the test tools (hostile server, TLS
 * relay, TCP forwarder): a socket on 127.0.0.1 whose port goes on the
 * first line of stdout (what czpg_child_start_server reads), and an accept
 * loop with one detached thread per connection.
 */
#ifndef CZPG_TEST_LOOPSERVE_H
#define CZPG_TEST_LOOPSERVE_H

/*
 * Listens on 127.0.0.1:port (0 = the kernel picks) and prints the port,
 * flushed.  Returns the socket, or -1 after perror("<name>: listen").
 */
int czpg_loopserve_listen(const char *name, int port);

/*
 * Accepts connections on lfd until accept fails for good (perror
 * "<name>: accept"), running fn((void *)(intptr_t)fd) on a detached thread
 * for each; fn owns the descriptor.  Closes lfd before returning.
 */
void czpg_loopserve_run(const char *name, int lfd, void *(*fn)(void *));

#endif
