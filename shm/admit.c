/*
 * admit.c - admission tickets (see admit.h for the protocol).
 */
#include "shm/admit.h"

int admit_try(struct shm_header_sh *h, unsigned slot)
{
    uint32_t bit = 1u << slot;
    for (;;) {
        uint32_t cur = atomic_load(&h->in_flight_mask);
        uint32_t cap = atomic_load(&h->parallelism);
        if (cur & bit)
            return 1;
        if ((uint32_t)__builtin_popcount(cur) >= (cap ? cap : 1))
            return 0;
        if (atomic_compare_exchange_weak(&h->in_flight_mask, &cur, cur | bit))
            return 1;
    }
}

void admit_release(struct shm_header_sh *h, unsigned slot)
{
    atomic_fetch_and(&h->in_flight_mask, ~(1u << slot));
}

uint32_t admit_count(const struct shm_header_sh *h)
{
    return (uint32_t)__builtin_popcount(atomic_load(&((struct shm_header_sh *)h)->in_flight_mask));
}
