/* Walk the search tree of a DB-IP (flat layout) IPv4 mmdb and print every
 * network it holds, exactly as stored (no merging), one per line:
 *     a.b.c.d/len CC OFFSET
 * CC is the record's country_code ("-" when the record has none), OFFSET the
 * record's offset in the data section (which DB-IP record it is).  Empty
 * records (no data) are not printed; their count goes to stderr with the
 * metadata.  Used by bench/dbip-to-geoip2, which compiles it with
 *     cc -O2 -o /tmp/gdnsd-scopes/dbip_dump bench/dbip_dump.c -lmaxminddb
 * (libmaxminddb's MMDB_read_node; the pure-Perl iterate_search_tree is too
 * slow for ~3M networks). */
#include <maxminddb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MMDB_s mmdb;
static unsigned long n_data, n_empty, n_nocc;
static const char* PATH_CC[] = {"country_code", NULL};

static void emit(uint32_t ip, unsigned len, MMDB_entry_s* e) {
  MMDB_entry_data_s d;
  char cc[16] = "-";
  int rc = MMDB_aget_value(e, &d, PATH_CC);
  if (rc == MMDB_SUCCESS && d.has_data && d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size > 0 &&
      d.data_size < sizeof cc) {
    memcpy(cc, d.utf8_string, d.data_size);
    cc[d.data_size] = 0;
  } else if (rc != MMDB_SUCCESS && rc != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
    fprintf(stderr, "aget_value: %s\n", MMDB_strerror(rc));
    exit(1);
  } else {
    n_nocc++;
  }
  n_data++;
  printf("%u.%u.%u.%u/%u %s %u\n", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, len, cc,
         e->offset);
}

static void record(uint8_t type, uint64_t rec, MMDB_entry_s* e, uint32_t ip, unsigned len);

static void walk(uint32_t node, uint32_t ip, unsigned depth) {
  MMDB_search_node_s n;
  int rc = MMDB_read_node(&mmdb, node, &n);
  if (rc != MMDB_SUCCESS) {
    fprintf(stderr, "read_node %u: %s\n", node, MMDB_strerror(rc));
    exit(1);
  }
  if (depth >= 32) {
    fprintf(stderr, "tree deeper than 32 bits under IPv4\n");
    exit(1);
  }
  record(n.left_record_type, n.left_record, &n.left_record_entry, ip, depth + 1);
  record(n.right_record_type, n.right_record, &n.right_record_entry, ip | (1u << (31 - depth)),
         depth + 1);
}

static void record(uint8_t type, uint64_t rec, MMDB_entry_s* e, uint32_t ip, unsigned len) {
  switch (type) {
    case MMDB_RECORD_TYPE_SEARCH_NODE:
      walk((uint32_t)rec, ip, len);
      break;
    case MMDB_RECORD_TYPE_EMPTY:
      n_empty++;
      break;
    case MMDB_RECORD_TYPE_DATA:
      emit(ip, len, e);
      break;
    default:
      fprintf(stderr, "invalid record under %u/%u\n", ip, len);
      exit(1);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DBIP-IPV4.mmdb\n", argv[0]);
    return 2;
  }
  int rc = MMDB_open(argv[1], MMDB_MODE_MMAP, &mmdb);
  if (rc != MMDB_SUCCESS) {
    fprintf(stderr, "%s: %s\n", argv[1], MMDB_strerror(rc));
    return 1;
  }
  const MMDB_metadata_s* m = &mmdb.metadata;
  fprintf(stderr, "type %s, ip_version %u, record_size %u, node_count %u\n", m->database_type,
          m->ip_version, m->record_size, m->node_count);
  static char buf[1 << 20];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  uint32_t node = 0;
  if (m->ip_version == 6) {  // IPv4 lives under ::/96
    for (int b = 0; b < 96; b++) {
      MMDB_search_node_s n;
      if (MMDB_read_node(&mmdb, node, &n) != MMDB_SUCCESS) return 1;
      if (n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE) {
        fprintf(stderr, "no IPv4 subtree under ::/96\n");
        return 1;
      }
      node = (uint32_t)n.left_record;
    }
  }
  walk(node, 0, 0);
  fflush(stdout);
  fprintf(stderr, "networks with data %lu (without country_code %lu), empty records %lu\n", n_data,
          n_nocc, n_empty);
  MMDB_close(&mmdb);
  return 0;
}
