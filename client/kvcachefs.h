/* libkvcachefs: the kvcachefs client library (docs/DATA_PATH.md).
 *
 * A client serves one directory of a kvcachefs mount (a pool's directory, or one below it).
 * Its calls store and load KV blocks in batches between the pool and memory shared with the
 * daemon (a kvc_buffer), one copy and one round trip per batch, through the mount's data socket.
 * Without one (an older daemon, -o data_socket=none, KVCACHEFS_FAST_PATH=0 in the environment)
 * the same calls use ordinary file I/O on the mount, with the same results.
 *
 * Every function returns 0 (or a count) on success and a negative errno on failure. Per-item
 * results are in the items' `error` fields (0 or a positive errno). A client may be shared by
 * threads (its requests are serialized); after fork(), the child makes its own client.
 */
#ifndef KVCACHEFS_H
#define KVCACHEFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVC_API __attribute__((visibility("default")))

typedef struct kvc_client kvc_client;
typedef struct kvc_buffer kvc_buffer;

/* kvc_open flags */
#define KVC_NO_FAST_PATH 1 /* ordinary file I/O even if the mount has a data socket */

/* Opens a client for `dir`, a directory of a kvcachefs mount. */
KVC_API int kvc_open(const char* dir, int flags, kvc_client** out);
KVC_API void kvc_close(kvc_client* client);
/* 1 when the client talks to the daemon's data socket, 0 when it uses file I/O. */
KVC_API int kvc_fast_path(const kvc_client* client);
/* The version of the library ("0.1.0"). */
KVC_API const char* kvc_version(void);

/* Memory shared with the daemon: a sealed memfd of `size` bytes, mapped in this process. What
 * is loaded into it or stored from it is handed on (a numpy array, a torch tensor) without
 * another copy. A buffer may outlive kvc_close() of its client (it stays mapped here, and is
 * no longer usable for requests) until kvc_buffer_free(). */
KVC_API int kvc_buffer_new(kvc_client* client, size_t size, kvc_buffer** out);
KVC_API void* kvc_buffer_data(const kvc_buffer* buffer);
KVC_API size_t kvc_buffer_size(const kvc_buffer* buffer);
KVC_API void kvc_buffer_free(kvc_buffer* buffer);

/* An extended attribute set on an entry as it is stored ("user.kvcache.seq_len", "user.x"). */
struct kvc_xattr {
    const char* name;
    const void* value;
    size_t size;
};

struct kvc_store_item {
    const char* name;   /* a name in the client's directory */
    size_t offset;      /* where its bytes start in the buffer */
    size_t length;      /* how many */
    const char* parent; /* user.kvcache.parent (the previous block of its chain), or NULL */
    int32_t priority;   /* user.kvcache.priority, when has_priority */
    int has_priority;
    uint32_t mode;  /* permission bits of the entry; 0: 0644, less the process's umask */
    int no_replace; /* EEXIST instead of replacing an existing entry */
    const struct kvc_xattr* xattrs; /* more attributes (at most 32), or NULL */
    size_t xattr_count;
    int error; /* out: 0 or an errno */
};
/* Stores each item as a complete entry: under its name, a reader sees the previous entry or the
 * new one whole, never part of it. Items are independent: one's failure (ENOSPC, EACCES)
 * leaves the others stored. A malformed batch (a range past the buffer) stores nothing. */
KVC_API int kvc_store(kvc_client* client, kvc_buffer* buffer, struct kvc_store_item* items,
                      size_t count);

struct kvc_load_item {
    const char* name;
    size_t offset;   /* where the entry goes in the buffer */
    size_t capacity; /* bytes available there */
    uint64_t size;   /* out: the entry's size */
    int cached;      /* out (kvc_load_chain): the pool has it, as .match answers */
    int error;       /* out: 0, ENOENT (not cached), EOVERFLOW (larger than capacity), ... */
};
/* Loads each named entry whole, counting hits and misses as open + read does on the mount. */
KVC_API int kvc_load(kvc_client* client, kvc_buffer* buffer, struct kvc_load_item* items,
                     size_t count);
/* The leading cached run of a chain (the names in order, as written to .match) loaded in the
 * same round trip; returns how many leading names were loaded. `leading` (if not NULL) gets
 * the match's answer, which a load that lost a race with eviction may exceed. */
KVC_API long kvc_load_chain(kvc_client* client, kvc_buffer* buffer, struct kvc_load_item* items,
                            size_t count, size_t* leading);

struct kvc_stat_item {
    const char* name;
    uint32_t mode; /* out */
    uint64_t size; /* out */
    int committed; /* out: complete (not being written) */
    int error;     /* out: 0 or ENOENT, ... */
};
KVC_API int kvc_stat(kvc_client* client, struct kvc_stat_item* items, size_t count);

/* pread(2) and pwrite(2) of an entry through a descriptor opened on the mount, moving the bytes
 * to and from the buffer. The descriptor's access mode applies. */
KVC_API ssize_t kvc_pread(kvc_client* client, int fd, kvc_buffer* buffer, size_t buffer_offset,
                          size_t length, uint64_t file_offset);
KVC_API ssize_t kvc_pwrite(kvc_client* client, int fd, kvc_buffer* buffer, size_t buffer_offset,
                           size_t length, uint64_t file_offset);

#ifdef __cplusplus
}
#endif

#endif /* KVCACHEFS_H */
