/*
 * sasl_cyrus: what the SASL server and client sides share of Cyrus SASL's
 * process state: real mutexes for its library code and plugins (workers and
 * the login thread run steps on their own threads), and log lines through
 * the router's log.
 */
#ifndef FR_SASL_CYRUS_H
#define FR_SASL_CYRUS_H

/* Hands Cyrus pthread mutexes; call before sasl_server_init or
 * sasl_client_init (more than one call is harmless). */
void sasl_cyrus_set_mutexes(void);

/* A SASL_CB_LOG callback; its context is the prefix of the lines
 * ("sasl", "sasl client"). */
int sasl_cyrus_log(void *prefix, int level, const char *message);

#endif
