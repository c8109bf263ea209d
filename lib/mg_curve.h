/*  CURVE on the bus (docs/security.md, "The bus").

    Every socket that talks to the broker is a CURVE client of it, and the
    broker's three sockets are CURVE servers that accept only the public keys
    listed in its clients directory. Keys live in one directory, MG_KEYS
    (default var/keys, made by scripts/keys):

        broker.key, broker.key_secret    the broker's pair (the public half is
                                         all a remote host needs of it)
        <role>.key, <role>.key_secret    one pair per process role
        clients/<role>.key               the public certificates the broker
                                         accepts; metadata: role, services

    A process speaks as one role: MG_ROLE when set (scripts/supervise sets the
    Procfile name), else what the program named (mg_curve_set_role; the actor
    runtime names its service), else "client". MG_KEYS=off turns CURVE off:
    plaintext, every peer accepted (a named switch for debugging, never the
    default).  */
#ifndef MG_CURVE_H_INCLUDED
#define MG_CURVE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  The role this process speaks as unless MG_ROLE says otherwise; the first
//  call wins (an actor that also runs clients keeps its service's role).
void mg_curve_set_role (const char *role);

//  The role this process speaks as.
const char *mg_curve_role (void);

//  True unless MG_KEYS is "off" (or set empty).
bool mg_curve_enabled (void);

//  The key directory (MG_KEYS, default var/keys); NULL when CURVE is off.
const char *mg_curve_dir (void);

//  Make socket (a zsock_t or a libzmq socket, before it connects) a CURVE
//  client of the broker: this role's pair and the broker's public key from
//  the key directory. 0, also when CURVE is off; -1 (logged) when a key is
//  missing or unreadable.
int mg_curve_client (void *socket);

//  Make socket (before it binds) a CURVE server with the broker's pair in
//  dir, authenticated in ZAP domain "mg". 0, or -1 (logged) when the
//  broker's key is missing.
int mg_curve_server (void *socket, const char *dir);

//  Make the key pair of role in dir unless it exists, with metadata role and
//  services (comma-separated service names a worker of this role may
//  register, "*" any, "" none), and list its public certificate in
//  dir/clients/ (not for "broker"). 0, or -1 with the reason in err.
int mg_curve_make (const char *dir, const char *role, const char *services,
                   char *err, size_t err_size);

//  Make the broker's pair, one pair per process name of procfile (services:
//  the name without trailing digits, so search1 and search2 serve search),
//  one for that service name too (a process started without MG_ROLE) and one
//  for "client" (command-line tools: no service). 0, or -1 with the
//  reason in err.
int mg_curve_make_roles (const char *dir, const char *procfile, char *err, size_t err_size);

//  True when the comma-separated list services names service (len bytes)
//  or is "*".
bool mg_curve_services_allow (const char *services, const char *service, size_t len);

#endif
