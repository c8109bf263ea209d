/*  The title field outranks the others in hybrid search: on a small
    made-up catalog with a two-topic LSA model under which a film tagged
    with the query's word is the semantic side's best answer, a one-word
    query still lists the titles that hold the word before that film, as the
    keyword side ranks them; and a company's name finds the films of that
    company first (the companies field), whatever the semantic side finds.

    On a second catalog with a one-topic model ("forest" and "ledger" are
    what it knows):
    - a production company's name is a name: one of its words among other
      query words does not make a title match ("epic move" is Epic Movie,
      not the film of Epic Productions whose overview says "move"), and a
      word only companies hold is not corrected into another field's word
      ("pixar" does not find a cast member named Pilar);
    - titles holding the query keep their keyword place in hybrid search
      only after a title the query spells out: when the first hit is there
      for a tag, a title that merely holds the word falls below the films
      tagged with it;
    - the first keyword hit is first in hybrid search whichever tier found
      it (a typo the AND misses: "forest gumbo" finds Forrest Gumbo only
      among the hits of some words).  */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "mg_lsa.h"

typedef struct {
    const char *title, *keywords, *overview, *companies;
    double popularity;
    const char *cast;
} s_title_t;

//  "Gridlock" titles the word; "Night Harbor" only carries it as a tag and
//  is, for the model below, the closest film to the word.
static const s_title_t s_catalog [] = {
    { "Gridlock", "hacker\nsimulation", "a hacker wakes up", "Foxglove Pictures", 100.0, NULL },
    { "Gridlock Returns", "hacker\nsequel", "the hacker fights on", "Foxglove Pictures", 70.0, NULL },
    { "The Gridlock Revolt", "hacker\nsequel", "the war ends", "Foxglove Pictures", 72.0, NULL },
    { "Night Harbor", "gridlock\nnoir", "a dark city where memories are rewritten at night", "Lantern Films", 40.0,
      NULL },
    { "Paper Kites", "childhood", "two sisters and a kite", "Studio Brightwater\nLantern Films", 30.0, NULL },
    { "Tin Garden", "robot", "a robot tends a garden", "Studio Brightwater", 25.0, NULL },
    { "Harbor Road", "road trip", "a studio musician drives west", "Foxglove Pictures", 90.0, NULL },
};
#define TITLES (sizeof s_catalog / sizeof s_catalog [0])
#define FILLER 40       //  unpopular titles no query here is about

//  The second catalog.
static const s_title_t s_named [] = {
    { "Beyond the Ridge", "war", "aid workers move from camp to camp", "Epic Productions", 60.0, "Ann Vale" },
    { "Epic Movie", "spoof", "four orphans spoof every film", "Regency Films", 30.0, "Kal Penner" },
    { "Toy Town", "toys", "toys come alive", "Pixar Animation Studios", 80.0, "Tom Hale" },
    { "Bright Bug", "insects", "an ant finds courage", "Pixar Animation Studios", 70.0, "Dave Foll" },
    { "Standing Room", "dance", "a girl sings", "Small Films", 5.0, "Pilar Lopez" },
    { "Quiet Hands", "ledger", "a ledger keeps the ledger and the ledger keeps her", "Small Films", 100.0,
      "Mia Roe" },
    { "The Old Ledger of the Harbor Town", "harbor", "a clerk at the docks", "Small Films", 50.0, "Ed Park" },
    { "Paper Trail", "ledger\nfraud\naudit", "an auditor follows the money across three countries by train",
      "Small Films", 10.0, "Lu Chan" },
    { "Forrest Gumbo", "running", "a man runs across the country", "Small Films", 90.0, "Tim Hunt" },
};
#define NAMED (sizeof s_named / sizeof s_named [0])
//  Its unpopular titles make "move" and "forest" common words (held by at
//  least TYPO_SKIP_DOCS titles: words, not typos) and are the semantic
//  side's answers to "forest".
#define NAMED_FILLER 45

typedef struct {
    char path [64];
    mg_lsa_t *lsa;
    search_index_t *index;
} fixture_t;

static void
s_put (search_index_t *index, int n, const s_title_t *t)
{
    char id [40], json [512];
    snprintf (id, sizeof id, "00000000-0000-4000-8000-%012d", n);
    snprintf (json, sizeof json, "{\"id\":\"%s\",\"type\":\"movie\",\"title\":\"%s\",\"genres\":[],"
              "\"external_ids\":{\"tmdb\":%d},\"availability\":[]}", id, t->title, n);
    mg_doc_t doc = {
        .id = id, .type = "movie", .title = t->title, .keywords = t->keywords, .overview = t->overview,
        .cast = t->cast, .companies = t->companies, .year = 2000, .popularity = t->popularity,
        .hit_json = json, .genres = "", .offers = ""
    };
    assert_int_equal (search_index_put (index, &doc), 0);
}

//  A fixture of the model (terms in byte order, the model file's order;
//  proj: terms x dims) and the catalog, then fillers unpopular titles with
//  the filler's text.
static int
s_open (void **state, char **terms, size_t count, const float *proj, uint32_t dims,
        const s_title_t *catalog, size_t titles, int fillers, const s_title_t *filler)
{
    fixture_t *f = calloc (1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    snprintf (f->path, sizeof f->path, "/tmp/test_title_field_XXXXXX");
    int fd = mkstemp (f->path);
    if (fd < 0)
        return -1;
    close (fd);
    float idf [16];
    for (size_t i = 0; i < count && i < 16; i++)
        idf [i] = 1;
    char err [256] = "";
    if (count > 16 || mg_lsa_write (f->path, terms, idf, proj, count, dims, err, sizeof err)
    ||  !(f->lsa = mg_lsa_load (f->path, err, sizeof err))
    ||  !(f->index = search_index_new (f->lsa, err, sizeof err))) {
        fprintf (stderr, "setup: %s\n", err);
        return -1;
    }
    search_index_begin (f->index);
    int n = 1;
    for (size_t i = 0; i < titles; i++, n++)
        s_put (f->index, n, &catalog [i]);
    for (int i = 0; i < fillers; i++, n++) {
        char title [64];
        snprintf (title, sizeof title, "Filler %c%c", 'a' + i % 26, 'a' + i / 26);
        s_title_t one = *filler;
        one.title = title;
        s_put (f->index, n, &one);
    }
    search_index_commit (f->index);
    return 0;
}

static int
setup (void **state)
{
    //  Two topics: the word, the noir words, "studio" and the filler's
    //  words on axis 0; the sequels' and Gridlock's other words on axis 1.
    //  So "gridlock" is nearest to Night Harbor, whose every word is on the
    //  word's axis, and "studio brightwater" to films that are not the
    //  studio's (the studio's films have no word the model knows).
    char *terms [] = { "city", "dark", "gridlock", "harbor", "night", "noir", "returns", "revolt", "sequel",
                       "simulation", "studio", "walk" };
    float proj [] = { 1, 0,  1, 0,  1, 0,  1, 0,  1, 0,  1, 0,  0, 1,  0, 1,  0, 1,  0, 1,  1, 0,  1, 0 };
    s_title_t filler = { NULL, "walk", "a walk down a lane", "Nobody Films", 0.5, NULL };
    return s_open (state, terms, 12, proj, 2, s_catalog, TITLES, FILLER, &filler);
}

static int
setup_named (void **state)
{
    //  One axis: every word the model knows is on it.
    char *terms [] = { "forest", "ledger", "move", "walk" };
    float proj [] = { 1, 1, 1, 1 };
    s_title_t filler = { NULL, "walk", "they move through the forest on a walk", "Nobody Films", 0.5,
                         "Nobody Here" };
    return s_open (state, terms, 4, proj, 1, s_named, NAMED, NAMED_FILLER, &filler);
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    search_index_destroy (&f->index);
    mg_lsa_destroy (&f->lsa);
    remove (f->path);
    free (f);
    return 0;
}

//  Run q in mode (hybrid: semantic_ratio 0.5) into rep; asserts it succeeds.
static void
s_query (fixture_t *f, const char *q, search_mode_t mode, mg_search_reply_t *rep)
{
    search_query_t query = { .q = q, .per_page = 20, .mode = mode, .semantic_ratio = 0.5 };
    char err [256] = "";
    memset (rep, 0, sizeof *rep);
    if (search_index_query (f->index, &query, rep, err, sizeof err))
        fail_msg ("query '%s' failed: %s", q, err);
}

//  Place (from 0) of title in rep, or -1 when absent.
static int
s_at (const mg_search_reply_t *rep, const char *title)
{
    for (size_t i = 0; i < rep->results_count; i++)
        if (strcmp (rep->results [i].title, title) == 0)
            return (int) i;
    return -1;
}

//  Place (from 0) of title in rep; fails when absent.
static size_t
s_place (const mg_search_reply_t *rep, const char *title)
{
    int at = s_at (rep, title);
    if (at < 0)
        fail_msg ("'%s' is not in the results", title);
    return (size_t) at;
}

static void
test_titles_holding_the_query_come_before_a_film_only_tagged_with_it (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    //  The semantic side alone puts the tagged film first: the case at hand.
    s_query (f, "gridlock", SEARCH_MODE_SEMANTIC, &rep);
    assert_string_equal (rep.results [0].title, "Night Harbor");
    mg_msg_clear (&mg_search_reply_desc, &rep);
    search_mode_t modes [] = { SEARCH_MODE_KEYWORD, SEARCH_MODE_HYBRID };
    for (size_t m = 0; m < 2; m++) {
        s_query (f, "gridlock", modes [m], &rep);
        assert_string_equal (rep.results [0].title, "Gridlock");
        size_t tagged = s_place (&rep, "Night Harbor");
        if (s_place (&rep, "Gridlock Returns") > tagged || s_place (&rep, "The Gridlock Revolt") > tagged)
            fail_msg ("mode %zu: a title holding the word is below the film only tagged with it", m);
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
}

static void
test_a_company_name_finds_the_companys_films (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    s_query (f, "studio brightwater", SEARCH_MODE_HYBRID, &rep);
    assert_true (rep.results_count >= 2);
    for (size_t i = 0; i < 2; i++)
        if (strcmp (rep.results [i].title, "Paper Kites") && strcmp (rep.results [i].title, "Tin Garden"))
            fail_msg ("result %zu is '%s', not a Studio Brightwater film", i, rep.results [i].title);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_a_company_word_among_other_words_is_no_match (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    search_mode_t modes [] = { SEARCH_MODE_KEYWORD, SEARCH_MODE_HYBRID };
    for (size_t m = 0; m < 2; m++) {
        s_query (f, "epic move", modes [m], &rep);
        assert_true (rep.results_count > 0);
        assert_string_equal (rep.results [0].title, "Epic Movie");
        mg_msg_clear (&mg_search_reply_desc, &rep);
    }
}

static void
test_a_company_name_is_not_corrected_into_a_cast_name (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    s_query (f, "pixar", SEARCH_MODE_KEYWORD, &rep);
    assert_int_equal (rep.results_count, 2);
    assert_true (s_at (&rep, "Toy Town") >= 0 && s_at (&rep, "Bright Bug") >= 0);
    assert_int_equal (s_at (&rep, "Standing Room"), -1);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_a_title_holding_a_topic_word_falls_below_the_tagged_films (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    //  The case at hand: the keyword side puts the title between two
    //  films tagged with the word, the first of them first.
    s_query (f, "ledger", SEARCH_MODE_KEYWORD, &rep);
    int tagged = s_at (&rep, "Quiet Hands"), holder = s_at (&rep, "The Old Ledger of the Harbor Town"),
        other = s_at (&rep, "Paper Trail");
    if (!(tagged == 0 && holder > tagged && other > holder))
        fail_msg ("keyword order is not tagged (%d), title (%d), tagged (%d)", tagged, holder, other);
    mg_msg_clear (&mg_search_reply_desc, &rep);
    s_query (f, "ledger", SEARCH_MODE_HYBRID, &rep);
    holder = s_at (&rep, "The Old Ledger of the Harbor Town");
    other = s_at (&rep, "Paper Trail");
    assert_int_equal (s_at (&rep, "Quiet Hands"), 0);
    if (other < 0 || holder < other)
        fail_msg ("hybrid: the title holding the word (%d) is above the tagged film (%d)", holder, other);
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

static void
test_the_first_keyword_hit_is_first_whatever_its_tier (void **state)
{
    fixture_t *f = *state;
    mg_search_reply_t rep;
    s_query (f, "forest gumbo", SEARCH_MODE_KEYWORD, &rep);
    assert_true (rep.results_count > 0);
    assert_string_equal (rep.results [0].title, "Forrest Gumbo");
    mg_msg_clear (&mg_search_reply_desc, &rep);
    s_query (f, "forest gumbo", SEARCH_MODE_HYBRID, &rep);
    assert_true (rep.results_count > 0);
    assert_string_equal (rep.results [0].title, "Forrest Gumbo");
    mg_msg_clear (&mg_search_reply_desc, &rep);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_titles_holding_the_query_come_before_a_film_only_tagged_with_it),
        cmocka_unit_test (test_a_company_name_finds_the_companys_films),
        cmocka_unit_test_setup_teardown (test_a_company_word_among_other_words_is_no_match, setup_named, teardown),
        cmocka_unit_test_setup_teardown (test_a_company_name_is_not_corrected_into_a_cast_name, setup_named,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_a_title_holding_a_topic_word_falls_below_the_tagged_films,
                                         setup_named, teardown),
        cmocka_unit_test_setup_teardown (test_the_first_keyword_hit_is_first_whatever_its_tier, setup_named,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
