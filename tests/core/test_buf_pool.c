/* The growable buffer and the block pool. */
#include "internal.h"
#include "test.h"

int main(void) {
  catzilla__buf_t b = {0};
  CHECK_INT(catzilla__buf_append(&b, "hello ", 6), 0);
  for (int i = 0; i < 1000; i++) CHECK_INT(catzilla__buf_append(&b, "x", 1), 0);
  CHECK_INT(b.len, 1006);
  CHECK(b.cap >= b.len);
  catzilla__buf_consume(&b, 6);
  CHECK_INT(b.len, 1000);
  CHECK(b.base[0] == 'x');
  catzilla__buf_consume(&b, 5000);
  CHECK_INT(b.len, 0);
  catzilla__buf_free(&b);
  CHECK(b.base == NULL);

  /* spares: a given buffer comes back to the next taker; too big or too many are freed */
  catzilla__buf_spares_t spares = {0};
  catzilla__buf_t cork = {0};
  CHECK(!catzilla__buf_spares_take(&spares, &cork));
  CHECK_INT(catzilla__buf_append(&cork, "abc", 3), 0);
  char* kept = cork.base;
  size_t kept_cap = cork.cap;
  catzilla__buf_spares_give(&spares, &cork, 1024);
  CHECK(cork.base == NULL && cork.len == 0 && cork.cap == 0);
  CHECK_INT(spares.count, 1);
  CHECK(catzilla__buf_spares_take(&spares, &cork));
  CHECK(cork.base == kept && cork.cap == kept_cap && cork.len == 0);
  CHECK_INT(spares.count, 0);
  CHECK_INT(catzilla__buf_reserve(&cork, 4096), 0);
  catzilla__buf_spares_give(&spares, &cork, 1024); /* over max_cap: freed */
  CHECK_INT(spares.count, 0);
  catzilla__buf_spares_give(&spares, &cork, 1024); /* nothing to give */
  CHECK_INT(spares.count, 0);
  for (int i = 0; i < CATZILLA__CORK_SPARES + 3; i++) {
    CHECK_INT(catzilla__buf_append(&cork, "x", 1), 0);
    catzilla__buf_spares_give(&spares, &cork, 1024);
  }
  CHECK_INT(spares.count, CATZILLA__CORK_SPARES);
  catzilla__buf_spares_free(&spares);
  CHECK_INT(spares.count, 0);

  /* slab: lent to one reader at a time; a second reader gets its own allocation, freed on return */
  char slab_mem[64];
  catzilla__buf_slab_t slab = {slab_mem, sizeof(slab_mem), false};
  char* r1;
  char* r2;
  size_t l1, l2;
  catzilla__buf_slab_take(&slab, &r1, &l1);
  CHECK(r1 == slab_mem && l1 == sizeof(slab_mem) && slab.lent);
  catzilla__buf_slab_take(&slab, &r2, &l2);
  CHECK(r2 != NULL && r2 != slab_mem && l2 == sizeof(slab_mem));
  catzilla__buf_slab_give(&slab, r2); /* freed (LeakSanitizer would report it otherwise) */
  CHECK(slab.lent);
  catzilla__buf_slab_give(&slab, r1);
  CHECK(!slab.lent);
  catzilla__buf_slab_give(&slab, NULL); /* a failed read's empty buffer */
  CHECK(!slab.lent);

  catzilla__pool_t pool;
  catzilla__pool_init(&pool, 128);
  void* a = catzilla__pool_get(&pool);
  void* c = catzilla__pool_get(&pool);
  CHECK(a != NULL && c != NULL && a != c);
  catzilla__pool_put(&pool, a);
  CHECK_INT(pool.free_count, 1);
  CHECK(catzilla__pool_get(&pool) == a); /* reused, not reallocated */
  catzilla__pool_put(&pool, a);
  catzilla__pool_put(&pool, c);
  catzilla__pool_drain(&pool);
  CHECK_INT(pool.free_count, 0);
  TEST_END();
}
