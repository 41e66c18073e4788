/*
 * overload.c - --capacity: the serving slots of agentos-mockllm and their queue.
 *
 * A llama.cpp server started with C slots generates for at most C requests at a
 * time; the others wait in line, so latency grows with the queue, and past some
 * depth it turns requests away. The stand-in does the same: an admitted request
 * holds a slot for its latency sleep (the "generation"), requests beyond C wait in
 * FIFO order, and a request arriving while 2C already hold or wait for a slot is
 * answered 503 at once. A waiter leaves the line when its client hangs up or the
 * server stops. Invariant, under mock_st.mu: serving <= capacity, queued is the
 * length of the q_head list, and a slot is handed straight to the head of the line
 * (serving never drops while someone waits), which is what keeps the order FIFO.
 */
#include "tools/mockllm/mockllm.h"

#include <errno.h>

/* Unlinks w from the line (it gave up). */
static void mock_queue_remove_locked(struct mock_waiter *w)
{
    struct mock_waiter **pp = &mock_st.q_head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = w->next;
    if (mock_st.q_tail == w)
        mock_st.q_tail = prev;
    mock_st.queued--;
}

/* Waits in line until granted a slot; 0, or -ECANCELED (hung up, stopping). */
static int mock_queue_wait_locked(struct mock_waiter *w, int fd)
{
    while (!w->granted) {
        if (mock_st.stopping || mock_hung_up(fd)) {
            mock_queue_remove_locked(w);
            return -ECANCELED;
        }
        struct timespec ts = mock_deadline(20);
        pthread_cond_timedwait(&mock_st.slot_cv, &mock_st.mu, &ts);
    }
    return 0;
}

int mock_slot_take(int fd)
{
    if (mock_cfg.capacity <= 0)
        return 0;
    struct mock_waiter w = {0};
    int rc = 0;
    pthread_mutex_lock(&mock_st.mu);
    if (mock_st.serving + mock_st.queued >= 2 * (int64_t)mock_cfg.capacity) {
        mock_st.c.h503_overload++;
        rc = -EBUSY;
    } else if (mock_st.serving < mock_cfg.capacity && !mock_st.q_head) {
        mock_st.serving++;
    } else {
        if (mock_st.q_tail)
            mock_st.q_tail->next = &w;
        else
            mock_st.q_head = &w;
        mock_st.q_tail = &w;
        if (++mock_st.queued > mock_st.max_queued)
            mock_st.max_queued = mock_st.queued;
        rc = mock_queue_wait_locked(&w, fd);
    }
    pthread_mutex_unlock(&mock_st.mu);
    return rc;
}

void mock_slot_give(void)
{
    if (mock_cfg.capacity <= 0)
        return;
    pthread_mutex_lock(&mock_st.mu);
    struct mock_waiter *w = mock_st.q_head;
    if (w) { /* the slot passes to the head of the line: serving stays */
        mock_st.q_head = w->next;
        if (!mock_st.q_head)
            mock_st.q_tail = NULL;
        mock_st.queued--;
        w->granted = 1;
        pthread_cond_broadcast(&mock_st.slot_cv);
    } else {
        mock_st.serving--;
    }
    pthread_mutex_unlock(&mock_st.mu);
}
