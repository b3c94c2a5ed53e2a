/*
 * A free list of equal-sized blocks, so that the hot path reuses memory instead of
 * calling malloc per request. At most CATZILLA__POOL_MAX_FREE blocks are kept.
 */
#include "internal.h"
#include <stdlib.h>

void catzilla__pool_init(catzilla__pool_t* pool, size_t block_size) {
  pool->free_list = NULL;
  pool->free_count = 0;
  pool->block_size = block_size < sizeof(void*) ? sizeof(void*) : block_size;
}

void* catzilla__pool_get(catzilla__pool_t* pool) {
  void* block = pool->free_list;
  if (block != NULL) {
    memcpy(&pool->free_list, block, sizeof(void*));
    pool->free_count--;
    return block;
  }
  return malloc(pool->block_size);
}

void catzilla__pool_put(catzilla__pool_t* pool, void* block) {
  if (block == NULL) return;
  if (pool->free_count >= CATZILLA__POOL_MAX_FREE) {
    free(block);
    return;
  }
  memcpy(block, &pool->free_list, sizeof(void*));
  pool->free_list = block;
  pool->free_count++;
}

void catzilla__pool_drain(catzilla__pool_t* pool) {
  while (pool->free_list != NULL) {
    void* block = pool->free_list;
    memcpy(&pool->free_list, block, sizeof(void*));
    free(block);
  }
  pool->free_count = 0;
}
