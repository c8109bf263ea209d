/*  CURVE on the bus: which keys a process uses, and making them.

    Keys are read from files each time a socket is set up (a few per process
    lifetime), so a process holds no key state and no lock.  */
#include "mg_curve.h"
#include "mg_config.h"
#include "mg_log.h"

#include <czmq.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define ROLE_MAX       64         //  bytes of a role name (a Procfile name)
#define PROCFILE_LINE  1024       //  longest Procfile line read
#define ZAP_DOMAIN     "mg"

static char s_role [ROLE_MAX + 1];
static atomic_flag s_role_set = ATOMIC_FLAG_INIT;

void
mg_curve_set_role (const char *role)
{
    assert (role);
    if (!atomic_flag_test_and_set (&s_role_set))
        snprintf (s_role, sizeof s_role, "%s", role);
}

const char *
mg_curve_role (void)
{
    const char *role = getenv ("MG_ROLE");
    if (role && *role)
        return role;
    return s_role [0] ? s_role : "client";
}

bool
mg_curve_enabled (void)
{
    const char *dir = mg_config_str ("MG_KEYS", "var/keys");
    return dir && *dir && strcmp (dir, "off") != 0;
}

const char *
mg_curve_dir (void)
{
    return mg_curve_enabled () ? mg_config_str ("MG_KEYS", "var/keys") : NULL;
}

//  Load dir/name (a certificate file), logging why not.
static zcert_t *
s_load (const char *dir, const char *name)
{
    char path [1024];
    int n = snprintf (path, sizeof path, "%s/%s", dir, name);
    zcert_t *cert = n > 0 && (size_t) n < sizeof path ? zcert_load (path) : NULL;
    if (!cert)
        mg_error ("cannot read a CURVE key (scripts/keys makes them)", "file=%s role=%s", path,
                  mg_curve_role ());
    return cert;
}

int
mg_curve_client (void *socket)
{
    assert (socket);
    const char *dir = mg_curve_dir ();
    if (!dir)
        return 0;
    char name [ROLE_MAX + 16];
    snprintf (name, sizeof name, "%s.key_secret", mg_curve_role ());
    zcert_t *mine = s_load (dir, name);
    zcert_t *broker = mine ? s_load (dir, "broker.key") : NULL;
    int rc = -1;
    if (mine && broker) {
        zcert_apply (mine, socket);
        zsock_set_curve_serverkey (socket, zcert_public_txt (broker));
        rc = 0;
    }
    zcert_destroy (&mine);
    zcert_destroy (&broker);
    return rc;
}

int
mg_curve_server (void *socket, const char *dir)
{
    assert (socket);
    assert (dir);
    zcert_t *broker = s_load (dir, "broker.key_secret");
    if (!broker)
        return -1;
    zcert_apply (broker, socket);
    zsock_set_curve_server (socket, 1);
    zsock_set_zap_domain (socket, ZAP_DOMAIN);
    zcert_destroy (&broker);
    return 0;
}

//  Fill err with a formatted reason; returns -1.
static int
s_fail (char *err, size_t err_size, const char *fmt, const char *arg)
{
    snprintf (err, err_size, fmt, arg);
    return -1;
}

//  mkdir path (mode) unless it is a directory already.
static int
s_mkdir (const char *path, mode_t mode)
{
    struct stat st;
    if (stat (path, &st) == 0 && S_ISDIR (st.st_mode))
        return 0;
    return mkdir (path, mode);
}

int
mg_curve_make (const char *dir, const char *role, const char *services, char *err, size_t err_size)
{
    assert (dir && role && services && err);
    size_t len = strlen (role);
    bool valid = len >= 1 && len <= ROLE_MAX;
    for (size_t i = 0; valid && i < len; i++)
        valid = isalnum ((unsigned char) role [i]) || role [i] == '_' || role [i] == '-';
    if (!valid)
        return s_fail (err, err_size, "bad role name '%s' (letters, digits, _ and -)", role);
    char clients [1024], path [1200], listed [1200];
    snprintf (clients, sizeof clients, "%s/clients", dir);
    snprintf (path, sizeof path, "%s/%s.key", dir, role);
    snprintf (listed, sizeof listed, "%s/%s.key", clients, role);
    //  Secret keys are for their owner only.
    if (s_mkdir (dir, 0700) || s_mkdir (clients, 0700))
        return s_fail (err, err_size, "cannot make the key directory %s", dir);
    zcert_t *cert = NULL;
    char secret [1300];
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (zsys_file_exists (secret))
        cert = zcert_load (secret);
    else {
        cert = zcert_new ();
        if (cert) {
            zcert_set_meta (cert, "role", "%s", role);
            zcert_set_meta (cert, "services", "%s", services);
            mode_t old = umask (077);
            int rc = zcert_save (cert, path);
            umask (old);
            if (rc)
                zcert_destroy (&cert);
        }
    }
    if (!cert)
        return s_fail (err, err_size, "cannot make or read the key pair %s", path);
    int rc = 0;
    if (strcmp (role, "broker") != 0 && !zsys_file_exists (listed) && zcert_save_public (cert, listed))
        rc = s_fail (err, err_size, "cannot list the public key %s", listed);
    zcert_destroy (&cert);
    return rc;
}

int
mg_curve_make_roles (const char *dir, const char *procfile, char *err, size_t err_size)
{
    assert (dir && procfile && err);
    if (mg_curve_make (dir, "broker", "", err, err_size) || mg_curve_make (dir, "client", "", err, err_size))
        return -1;
    FILE *file = fopen (procfile, "r");
    if (!file)
        return s_fail (err, err_size, "cannot read %s", procfile);
    char line [PROCFILE_LINE];
    int rc = 0;
    while (rc == 0 && fgets (line, sizeof line, file)) {
        char *colon = strchr (line, ':');
        if (line [0] == '#' || !colon || colon == line)
            continue;
        *colon = 0;
        if (strcmp (line, "broker") == 0)
            continue;
        size_t len = strlen (line);
        if (len > ROLE_MAX) {
            rc = s_fail (err, err_size, "Procfile name too long: %.64s", line);
            break;
        }
        char services [ROLE_MAX + 1];
        memcpy (services, line, len + 1);
        while (len > 1 && isdigit ((unsigned char) services [len - 1]))
            services [--len] = 0;
        rc = mg_curve_make (dir, line, services, err, err_size);
        //  A process started by hand, outside the supervisor, speaks as its
        //  service (search, not search1): a pair for that too.
        if (rc == 0 && strcmp (services, line) != 0)
            rc = mg_curve_make (dir, services, services, err, err_size);
    }
    fclose (file);
    return rc;
}

bool
mg_curve_services_allow (const char *services, const char *service, size_t len)
{
    if (!services)
        return false;
    if (strcmp (services, "*") == 0)
        return true;
    const char *item = services;
    while (*item) {
        const char *end = strchr (item, ',');
        size_t item_len = end ? (size_t) (end - item) : strlen (item);
        while (item_len && item [0] == ' ') {
            item++;
            item_len--;
        }
        while (item_len && item [item_len - 1] == ' ')
            item_len--;
        if (item_len == len && memcmp (item, service, len) == 0)
            return true;
        if (!end)
            break;
        item = end + 1;
    }
    return false;
}
