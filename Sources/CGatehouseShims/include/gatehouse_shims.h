#ifndef GATEHOUSE_SHIMS_H
#define GATEHOUSE_SHIMS_H

/* The few C helpers Swift cannot express directly: epoll/eventfd/accept4 (Glibc's module
 * map lacks sys/epoll.h and accept4 needs _GNU_SOURCE) and OpenSSL macros. Prefix: gh_. */

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

/* epoll */
int gh_epoll_create(void);
/* Registers or modifies fd with events and a 64-bit user token. op: 1 add, 2 del, 3 mod. */
int gh_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/* Waits; fills parallel arrays events/tokens; returns count or -1 (errno set). */
int gh_epoll_wait(int epfd, uint32_t *events, uint64_t *tokens, int maxevents, int timeout_ms);

extern const uint32_t GH_EPOLLIN;
extern const uint32_t GH_EPOLLOUT;
extern const uint32_t GH_EPOLLERR;
extern const uint32_t GH_EPOLLHUP;
extern const uint32_t GH_EPOLLRDHUP;
extern const uint32_t GH_EPOLLET;

/* eventfd */
int gh_eventfd(void);
int gh_eventfd_signal(int fd);
int gh_eventfd_drain(int fd);

/* sockets */
int gh_accept4(int fd, struct sockaddr *addr, socklen_t *len); /* non-blocking, cloexec */
int gh_socket_nonblocking(int domain, int type);
int gh_set_reuseport(int fd);
int gh_set_nodelay(int fd);
int gh_socket_error(int fd); /* SO_ERROR value, or errno on failure */

/* monotonic time in nanoseconds */
uint64_t gh_monotonic_ns(void);
/* wall clock in milliseconds since the epoch */
int64_t gh_wallclock_ms(void);

/* signals: blocks TERM/INT/HUP in the calling thread (inherit to threads started after) and ignores PIPE */
int gh_block_signals(void);
/* waits for TERM/INT/HUP (blocked set); returns the signal number, or -1 on timeout */
int gh_wait_signal(int timeout_ms);

/* OpenSSL macros */
long gh_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
long gh_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
long gh_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options);
long gh_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
void gh_SSL_CTX_set_read_ahead(SSL_CTX *ctx, int yes);
long gh_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
int gh_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
long gh_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
uint64_t gh_SSL_OP_NO_COMPRESSION(void);
uint64_t gh_SSL_OP_NO_RENEGOTIATION(void);
uint64_t gh_SSL_OP_CIPHER_SERVER_PREFERENCE(void);
uint64_t gh_SSL_OP_NO_TICKET(void);
long gh_SSL_MODE_ENABLE_PARTIAL_WRITE(void);
long gh_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void);
long gh_SSL_MODE_RELEASE_BUFFERS(void);
int gh_TLS1_2_VERSION(void);
int gh_TLS1_3_VERSION(void);

/* TLS (GatehousePosix TLSContext/TLSConnection): more OpenSSL macros */
long gh_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size);
long gh_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff);
void gh_OPENSSL_free(void *pointer);
/* 1 when the error code is OpenSSL 3's "unexpected EOF while reading" (peer closed without close_notify) */
int gh_ERR_is_unexpected_eof(unsigned long code);

#endif
