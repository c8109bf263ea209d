/*  Provider names and the helpers the four parsers share.  */
#include "providers.h"
#include "providers_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const s_names [PROVIDER_COUNT] = { "tmdb", "sa", "watchmode", "youtube" };

const char *
provider_name (provider_id_t id)
{
    return id < PROVIDER_COUNT ? s_names [id] : "unknown";
}

int
provider_by_name (const char *name)
{
    for (int i = 0; i < PROVIDER_COUNT; i++)
        if (name && strcmp (name, s_names [i]) == 0)
            return i;
    return -1;
}

json_t *
provider_load (const char *body, size_t len, const char *what, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        snprintf (err, errlen, "%s: malformed JSON at %d: %s", what, jerr.position, jerr.text);
    return root;
}

int
provider_fail (char *err, size_t errlen, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
    return -1;
}

int
provider_opt_str (const json_t *obj, const char *name, size_t max, const char **value,
                  const char *what, char *err, size_t errlen)
{
    const json_t *field = json_object_get (obj, name);
    *value = NULL;
    if (!field || json_is_null (field))
        return 0;
    if (!json_is_string (field))
        return provider_fail (err, errlen, "%s: %s is not a string", what, name);
    if (json_string_length (field) > max)
        return provider_fail (err, errlen, "%s: %s longer than %zu", what, name, max);
    if (strlen (json_string_value (field)) != json_string_length (field))
        return provider_fail (err, errlen, "%s: %s holds a NUL", what, name);
    *value = json_string_value (field);
    return 0;
}

int
provider_req_str (const json_t *obj, const char *name, size_t max, const char **value,
                  const char *what, char *err, size_t errlen)
{
    if (provider_opt_str (obj, name, max, value, what, err, errlen))
        return -1;
    if (!*value || !**value)
        return provider_fail (err, errlen, "%s: %s missing", what, name);
    return 0;
}

int
provider_url (char *url, size_t len, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (url, len, fmt, args);
    va_end (args);
    return n < 0 || (size_t) n >= len ? -1 : 0;
}

bool
provider_id_safe (const char *id)
{
    //  Ids go into URL paths unescaped: letters, digits and "-/_." only.
    if (!id || !*id || strlen (id) > 64)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
        ||  *p == '-' || *p == '/' || *p == '_' || *p == '.'))
            return false;
    return !strstr (id, "..");
}
