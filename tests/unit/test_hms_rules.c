/*
 * test_hms_rules: the metastore rule table (hms-thrift/hms_rules.h).
 *
 *   test_hms_rules        lookup (sorted, found, unknown -> NULL), table
 *                         invariants, a few known rules, walks over encoded
 *                         bodies with the rules' path sets
 *   test_hms_rules dump   prints every rule as one JSON object per line, for
 *                         check_hms_rules.py (the proof against the IDL)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hms_rules.h"

static const char *const kind_names[HMS_PK_COUNT] = { "DB", "PATTERN", "OBJNAME", "QUALIFIED", "SQL" };

/* ---- dump ---- */

static void dump_paths(const struct hms_paths *p)
{
    unsigned idx = 0;
    printf("{");
    for (int k = 0; k < HMS_PK_COUNT; k++) {
        printf("%s\"%s\": [", k ? ", " : "", kind_names[k]);
        for (unsigned j = 0; j < p->n[k]; j++, idx++) {
            printf("%s[", j ? ", " : "");
            const int32_t *s = p->ps.p[idx];
            for (unsigned d = 0; s[d] != TW_END; d++) {
                if (d)
                    printf(", ");
                if (s[d] == TW_ELEM)
                    printf("\"*\"");
                else if (s[d] == TW_KEY)
                    printf("\"*k\"");
                else if (s[d] == TW_VAL)
                    printf("\"*v\"");
                else
                    printf("%d", (int)s[d]);
            }
            printf("]");
        }
        printf("]");
    }
    printf("}");
}

static int dump(void)
{
    static const char *const flag_names[] = { "HMS_WRITE", "HMS_ONEWAY", "HMS_NO_DB", "HMS_FANOUT", "HMS_FB303" };
    static const char *const merge_names[] = { "NONE", "STRINGS_SORTED", "LIST", "FUNCTIONS", "SAME" };
    static const char *const version_names[] = { "2.3", "3.1", "4" };
    for (size_t i = 0; i < hms_rule_count(); i++) {
        const struct hms_rule *r = hms_rule_at(i);
        printf("{\"name\": \"%s\", \"flags\": [", r->name);
        int first = 1;
        for (unsigned b = 0; b < sizeof(flag_names) / sizeof(flag_names[0]); b++)
            if (r->flags & (1u << b)) {
                printf("%s\"%s\"", first ? "" : ", ", flag_names[b]);
                first = 0;
            }
        if (r->merge >= sizeof(merge_names) / sizeof(merge_names[0]))
            return 1;
        printf("], \"merge\": \"%s\", \"versions\": [", merge_names[r->merge]);
        first = 1;
        for (unsigned b = 0; b < 3; b++)
            if (r->versions & (1u << b)) {
                printf("%s\"%s\"", first ? "" : ", ", version_names[b]);
                first = 0;
            }
        printf("], \"args\": ");
        dump_paths(&r->args);
        printf(", \"result\": ");
        dump_paths(&r->result);
        printf("}\n");
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- helpers ---- */

static int path_is(const struct hms_paths *p, unsigned idx, const int32_t *want)
{
    if (idx >= p->ps.n)
        return 0;
    const int32_t *s = p->ps.p[idx];
    unsigned d = 0;
    for (; want[d] != TW_END; d++)
        if (s[d] != want[d])
            return 0;
    return s[d] == TW_END;
}

static int has_path(const struct hms_paths *p, enum hms_path_kind kind, const int32_t *want)
{
    for (unsigned i = 0; i < p->ps.n; i++)
        if (hms_path_kind_of(p, i) == kind && path_is(p, i, want))
            return 1;
    return 0;
}

/* Binary protocol writer for small bodies. */
struct enc {
    uint8_t b[256];
    size_t n;
};

static void put_u8(struct enc *e, uint8_t v)
{
    if (e->n < sizeof(e->b))
        e->b[e->n++] = v;
}

static void put_field(struct enc *e, uint8_t type, int16_t id)
{
    put_u8(e, type);
    put_u8(e, (uint8_t)((uint16_t)id >> 8));
    put_u8(e, (uint8_t)id);
}

static void put_str(struct enc *e, int16_t id, const char *s)
{
    size_t len = strlen(s);
    put_field(e, 11, id);
    for (int sh = 24; sh >= 0; sh -= 8)
        put_u8(e, (uint8_t)(len >> sh));
    for (size_t i = 0; i < len; i++)
        put_u8(e, (uint8_t)s[i]);
}

struct seen {
    const struct hms_paths *paths;
    unsigned count;
    enum hms_path_kind kind[8];
    char text[8][32];
};

static int visit(void *ctx, unsigned idx, const uint8_t *s, size_t len)
{
    struct seen *v = ctx;
    if (v->count >= 8 || len >= sizeof(v->text[0]))
        return -1;
    v->kind[v->count] = hms_path_kind_of(v->paths, idx);
    memcpy(v->text[v->count], s, len);
    v->text[v->count][len] = '\0';
    v->count++;
    return 0;
}

/* ---- tests ---- */

static void test_table(void)
{
    size_t n = hms_rule_count();
    CHECK(n >= 300);              /* 289 metastore + 13 fb303 methods today */
    CHECK(hms_rule_at(n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const struct hms_rule *r = hms_rule_at(i);
        CHECK(r != NULL && r->name != NULL && r->name[0] != '\0');
        if (i > 0)
            CHECK(strcmp(hms_rule_at(i - 1)->name, r->name) < 0);   /* sorted, no duplicates */
        CHECK(hms_rule_lookup(r->name) == r);
        CHECK(hms_rule_find(r->name, strlen(r->name)) == r);
        CHECK(!((r->flags & HMS_NO_DB) && (r->flags & HMS_FANOUT)));
        CHECK(((r->flags & HMS_FANOUT) != 0) == (r->merge != HMS_MERGE_NONE));
        CHECK(r->versions != 0 && r->versions <= (HMS_V2_3 | HMS_V3_1 | HMS_V4));
        const struct hms_paths *dirs[2] = { &r->args, &r->result };
        for (int d = 0; d < 2; d++) {
            const struct hms_paths *p = dirs[d];
            unsigned sum = 0;
            for (int k = 0; k < HMS_PK_COUNT; k++)
                sum += p->n[k];
            CHECK(sum == p->ps.n);
            if (p->ps.n) {
                CHECK(tw_check_paths(&p->ps) == 0);   /* the walker accepts the set */
                CHECK(hms_path_kind_of(p, p->ps.n) == HMS_PK_COUNT);
            } else {
                CHECK(p->ps.p == NULL);
            }
        }
        /* result paths start at field 0 (success) */
        for (unsigned j = 0; j < r->result.ps.n; j++)
            CHECK(r->result.ps.p[j][0] == 0);
    }
}

static void test_lookup(void)
{
    CHECK(hms_rule_lookup("get_database") != NULL);
    CHECK(hms_rule_lookup("abort_Compactions") != NULL);   /* upper case sorts first */
    CHECK(hms_rule_lookup("aliveSince") != NULL);
    CHECK(hms_rule_lookup("write_notification_log") == NULL);
    CHECK(hms_rule_lookup("no_such_method") == NULL);
    CHECK(hms_rule_lookup("") == NULL);
    CHECK(hms_rule_lookup("get_databas") == NULL);        /* a prefix of a name */
    CHECK(hms_rule_lookup("get_databasesX") == NULL);     /* a name plus more */
    CHECK(hms_rule_lookup("GET_DATABASE") == NULL);       /* names are case-sensitive */
    CHECK(hms_rule_lookup("get_database ") == NULL);
    CHECK(hms_rule_lookup("\x7f") == NULL);               /* after every name */
    CHECK(hms_rule_lookup("A") == NULL);                  /* before every name */
    /* the first and last entries are reachable */
    size_t n = hms_rule_count();
    CHECK(hms_rule_lookup(hms_rule_at(0)->name) == hms_rule_at(0));
    CHECK(hms_rule_lookup(hms_rule_at(n - 1)->name) == hms_rule_at(n - 1));
    /* a name inside a message header, not NUL-terminated */
    const char hdr[] = "get_tablesXYZ";
    const struct hms_rule *r = hms_rule_find(hdr, 10);
    CHECK(r != NULL && strcmp(r->name, "get_tables") == 0);
    CHECK(hms_rule_find(hdr, 9) == hms_rule_lookup("get_table"));
    CHECK(hms_rule_find(hdr, 0) == NULL);
}

static void test_known_rules(void)
{
    const struct hms_rule *r;

    r = hms_rule_lookup("get_database");
    CHECK(r && !(r->flags & (HMS_WRITE | HMS_NO_DB | HMS_FANOUT)));
    CHECK(r && r->args.ps.n == 1 && has_path(&r->args, HMS_PK_DB, TW_P(1)));
    CHECK(r && has_path(&r->result, HMS_PK_DB, TW_P(0, 1)));   /* Database.name */

    r = hms_rule_lookup("get_all_databases");
    CHECK(r && (r->flags & HMS_FANOUT) && r->merge == HMS_MERGE_STRINGS_SORTED);
    CHECK(r && r->args.ps.n == 0 && has_path(&r->result, HMS_PK_DB, TW_P(0, TW_ELEM)));

    r = hms_rule_lookup("get_databases");
    CHECK(r && (r->flags & HMS_FANOUT) && r->merge == HMS_MERGE_STRINGS_SORTED);
    CHECK(r && has_path(&r->args, HMS_PK_PATTERN, TW_P(1)) && r->args.n[HMS_PK_DB] == 0);

    r = hms_rule_lookup("get_table_meta");
    CHECK(r && (r->flags & HMS_FANOUT) && r->merge == HMS_MERGE_LIST);
    CHECK(r && r->args.ps.n == 1 && has_path(&r->args, HMS_PK_PATTERN, TW_P(1)));
    CHECK(r && has_path(&r->result, HMS_PK_DB, TW_P(0, TW_ELEM, 1)));

    r = hms_rule_lookup("get_all_functions");
    CHECK(r && r->merge == HMS_MERGE_FUNCTIONS && has_path(&r->result, HMS_PK_DB, TW_P(0, 1, TW_ELEM, 2)));

    r = hms_rule_lookup("set_ugi");
    CHECK(r && (r->flags & HMS_FANOUT) && r->merge == HMS_MERGE_SAME && !(r->flags & HMS_WRITE));

    r = hms_rule_lookup("shutdown");
    CHECK(r && (r->flags & HMS_ONEWAY) && (r->flags & HMS_FB303) && (r->flags & HMS_NO_DB));
    CHECK(r && !(r->flags & HMS_WRITE));
    r = hms_rule_lookup("getStatus");
    CHECK(r && (r->flags & HMS_FB303) && (r->flags & HMS_NO_DB) && !(r->flags & HMS_ONEWAY));

    r = hms_rule_lookup("create_table");
    CHECK(r && (r->flags & HMS_WRITE) && has_path(&r->args, HMS_PK_DB, TW_P(1, 2)));
    CHECK(r && has_path(&r->args, HMS_PK_SQL, TW_P(1, 10)) && has_path(&r->args, HMS_PK_SQL, TW_P(1, 11)));
    CHECK(r && has_path(&r->args, HMS_PK_QUALIFIED, TW_P(1, 16, 4, TW_ELEM)));

    r = hms_rule_lookup("get_table");
    CHECK(r && r->versions == (HMS_V2_3 | HMS_V3_1));
    r = hms_rule_lookup("add_index");
    CHECK(r && r->versions == HMS_V2_3 && (r->flags & HMS_WRITE));
    r = hms_rule_lookup("get_table_req");
    CHECK(r && r->versions == (HMS_V2_3 | HMS_V3_1 | HMS_V4) && !(r->flags & HMS_WRITE));
    r = hms_rule_lookup("create_catalog");
    CHECK(r && r->versions == (HMS_V3_1 | HMS_V4) && (r->flags & HMS_WRITE) && (r->flags & HMS_NO_DB));
    r = hms_rule_lookup("get_database_req");
    CHECK(r && r->versions == HMS_V4 && has_path(&r->args, HMS_PK_DB, TW_P(1, 1)));

    r = hms_rule_lookup("grant_privileges");
    CHECK(r && (r->flags & HMS_WRITE) && has_path(&r->args, HMS_PK_DB, TW_P(1, 1, TW_ELEM, 1, 2)));
    CHECK(r && has_path(&r->args, HMS_PK_OBJNAME, TW_P(1, 1, TW_ELEM, 1, 3)));

    r = hms_rule_lookup("add_write_ids_to_min_history");
    CHECK(r && has_path(&r->args, HMS_PK_QUALIFIED, TW_P(2, TW_KEY)) && !(r->flags & HMS_NO_DB));

    r = hms_rule_lookup("open_txns");
    CHECK(r && (r->flags & HMS_WRITE) && (r->flags & HMS_NO_DB));
    r = hms_rule_lookup("get_delegation_token");
    CHECK(r && (r->flags & HMS_WRITE) && (r->flags & HMS_NO_DB));
}

static void test_kinds(void)
{
    const struct hms_rule *r = hms_rule_lookup("grant_privileges");
    if (!r)
        return;
    struct tw_pathset db = hms_paths_of(&r->args, HMS_PK_DB);
    struct tw_pathset obj = hms_paths_of(&r->args, HMS_PK_OBJNAME);
    struct tw_pathset sql = hms_paths_of(&r->args, HMS_PK_SQL);
    CHECK(db.n == r->args.n[HMS_PK_DB] && db.p == r->args.ps.p);
    CHECK(obj.n == 1 && obj.p == r->args.ps.p + r->args.n[HMS_PK_DB] + r->args.n[HMS_PK_PATTERN]);
    CHECK(sql.n == 0 && sql.p == NULL);
    CHECK(hms_path_kind_of(&r->args, 0) == HMS_PK_DB);
    CHECK(hms_path_kind_of(&r->args, db.n) == HMS_PK_OBJNAME);
}

/* Walks encoded argument bodies with the rules' path sets. */
static void test_walk(void)
{
    const struct hms_rule *r = hms_rule_lookup("get_table_req");
    CHECK(r && hms_rule_lookup("get_table_meta") && hms_rule_lookup("create_table"));
    if (!r || !hms_rule_lookup("get_table_meta") || !hms_rule_lookup("create_table"))
        return;
    struct enc e = { .n = 0 };
    struct seen v = { .count = 0 };
    /* get_table_req_args { 1: GetTableRequest { 1: dbName, 2: tblName, 7: catName } } */
    put_field(&e, 12, 1);
    put_str(&e, 1, "sales");
    put_str(&e, 2, "orders");
    put_str(&e, 7, "hive");
    put_u8(&e, 0);
    put_u8(&e, 0);
    v.paths = &r->args;
    CHECK(tw_walk(TW_BINARY, e.b, e.n, NULL, &r->args.ps, visit, &v) == 0);
    CHECK(v.count == 1 && v.kind[0] == HMS_PK_DB && strcmp(v.text[0], "sales") == 0);

    /* get_table_meta_args { 1: db_patterns, 2: tbl_patterns, 3: list<string> tbl_types } */
    r = hms_rule_lookup("get_table_meta");
    e.n = 0;
    v.count = 0;
    v.paths = &r->args;
    put_str(&e, 1, "@hive#sales_*");
    put_str(&e, 2, "*");
    put_field(&e, 15, 3);
    put_u8(&e, 11);
    put_u8(&e, 0), put_u8(&e, 0), put_u8(&e, 0), put_u8(&e, 0);
    put_u8(&e, 0);
    CHECK(tw_walk(TW_BINARY, e.b, e.n, NULL, &r->args.ps, visit, &v) == 0);
    CHECK(v.count == 1 && v.kind[0] == HMS_PK_PATTERN && strcmp(v.text[0], "@hive#sales_*") == 0);

    /* create_table_args { 1: Table { 1: tableName, 2: dbName, 10: viewOriginalText } } */
    r = hms_rule_lookup("create_table");
    e.n = 0;
    v.count = 0;
    v.paths = &r->args;
    put_field(&e, 12, 1);
    put_str(&e, 1, "v");
    put_str(&e, 2, "sales");
    put_str(&e, 10, "select * from sales.t");
    put_u8(&e, 0);
    put_u8(&e, 0);
    CHECK(tw_walk(TW_BINARY, e.b, e.n, NULL, &r->args.ps, visit, &v) == 0);
    CHECK(v.count == 2 && v.kind[0] == HMS_PK_DB && strcmp(v.text[0], "sales") == 0);
    CHECK(v.count == 2 && v.kind[1] == HMS_PK_SQL && strcmp(v.text[1], "select * from sales.t") == 0);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "dump") == 0)
        return dump();
    if (argc != 1) {
        fprintf(stderr, "usage: test_hms_rules [dump]\n");
        return 2;
    }
    test_table();
    test_lookup();
    test_known_rules();
    test_kinds();
    test_walk();
    return check_report();
}
