/*  mg-keys: make the bus's CURVE keys (lib/mg_curve.h, scripts/keys).

        mg-keys DIR PROCFILE         the broker's pair, "client", and one pair
                                     per Procfile name (serving the name
                                     without trailing digits)
        mg-keys DIR ROLE SERVICES    one role serving SERVICES (comma list,
                                     "" none, "*" any)

    Pairs that exist are kept, so running it again only adds new roles.  */
#include "mg_curve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
main (int argc, char *argv [])
{
    char err [512] = "";
    int rc = -1;
    struct stat st;
    if (argc == 3 && stat (argv [2], &st) == 0 && S_ISREG (st.st_mode))
        rc = mg_curve_make_roles (argv [1], argv [2], err, sizeof err);
    else
    if (argc == 4)
        rc = mg_curve_make (argv [1], argv [2], argv [3], err, sizeof err);
    else {
        fprintf (stderr, "usage: mg-keys DIR PROCFILE | mg-keys DIR ROLE SERVICES\n");
        return 2;
    }
    if (rc) {
        fprintf (stderr, "mg-keys: %s\n", err);
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
