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
