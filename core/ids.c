/*
 * Request ids: generation * 2^22 + slot, below 2^53 so that JavaScript numbers carry them
 * exactly. A slot belongs to one owner (a connection) for its life; each request on it gets
 * the slot's next generation, so an id of an earlier request never finds the owner's current
 * one. A leaf: it knows nothing of what owns a slot.
 */
#include "internal.h"
#include <stdlib.h>

uint32_t catzilla__ids_acquire(catzilla__ids_t* ids, void* owner) {
  if (ids->free_head == UINT32_MAX) {
    uint32_t old = ids->count, n = old ? old * 2 : 256;
    if (n > (1u << CATZILLA__SLOT_BITS)) return UINT32_MAX;
    void** owners = realloc(ids->owners, n * sizeof(*owners));
    if (owners == NULL) return UINT32_MAX;
    ids->owners = owners;
    uint32_t* gen = realloc(ids->generation, n * sizeof(*gen));
    if (gen == NULL) return UINT32_MAX;
    ids->generation = gen;
    uint32_t* next = realloc(ids->free_next, n * sizeof(*next));
    if (next == NULL) return UINT32_MAX;
    ids->free_next = next;
    for (uint32_t i = old; i < n; i++) {
      owners[i] = NULL;
      gen[i] = 0;
      next[i] = i + 1 < n ? i + 1 : UINT32_MAX;
    }
    ids->free_head = old;
    ids->count = n;
  }
  uint32_t slot = ids->free_head;
  ids->free_head = ids->free_next[slot];
  ids->owners[slot] = owner;
  return slot;
}

void catzilla__ids_release(catzilla__ids_t* ids, uint32_t slot) {
  ids->owners[slot] = NULL;
  ids->free_next[slot] = ids->free_head;
  ids->free_head = slot;
}

catzilla_request_id_t catzilla__ids_next(catzilla__ids_t* ids, uint32_t slot) {
  uint32_t gen = ++ids->generation[slot];
  if (gen >= (1u << 31)) gen = ids->generation[slot] = 1;
  return ((uint64_t)gen << CATZILLA__SLOT_BITS) | slot;
}

void catzilla__ids_free(catzilla__ids_t* ids) {
  free(ids->owners);
  free(ids->generation);
  free(ids->free_next);
  ids->owners = NULL;
  ids->generation = ids->free_next = NULL;
  ids->count = 0;
  ids->free_head = UINT32_MAX;
}
