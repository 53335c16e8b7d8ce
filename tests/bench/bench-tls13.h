/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Reference measurement: wolfSSL's own TLS 1.3 external-PSK handshake,
 * client and server driven in-process over memory buffers.
 */
#ifndef PNGW_BENCH_TLS13_H
#define PNGW_BENCH_TLS13_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  BENCH_TLS13_PSK_KE,     /* psk_ke: PSK only, no (EC)DHE */
  BENCH_TLS13_PSK_DHE_KE, /* psk_dhe_ke with X25519 */
} BenchTls13Mode;

/* Minimum number of timed handshakes, whatever `seconds` says. */
#define BENCH_TLS13_MIN_HANDSHAKES 20

/*
 * Runs complete TLS 1.3 PSK handshakes (TLS13-CHACHA20-POLY1305-SHA256) for
 * about `seconds` of wall time (CLOCK_MONOTONIC), and at least
 * BENCH_TLS13_MIN_HANDSHAKES of them. Before timing, one handshake is checked
 * on the wire to really use the requested key exchange mode.
 *
 * Returns handshakes per second, or a negative value on failure (with a
 * message on stderr).
 */
double bench_tls13_handshakes_per_sec (BenchTls13Mode mode, double seconds);

#ifdef __cplusplus
}
#endif

#endif /* PNGW_BENCH_TLS13_H */
