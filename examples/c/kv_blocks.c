/* A chain of KV blocks stored and loaded with libkvcachefs, next to plain file I/O.
 *
 *     kv_blocks POOL_DIR [BLOCKS] [BLOCK_BYTES]
 *
 * Stores BLOCKS blocks (default 16 of 256 KiB) as one chain (each names the previous as its
 * user.kvcache.parent) in one batch from a buffer shared with the daemon, loads the chain back
 * with one kvc_load_chain (.match and the leading run in one round trip), checks the bytes, and
 * reads the last block through the mount with read(2). Then the same with KVC_NO_FAST_PATH:
 * the library's fallback, plain open/write/rename and open/read on the mount. Prints the time
 * of each. Exit status 0 when every check passed.
 *
 * Build: cc kv_blocks.c $(pkg-config --cflags --libs kvcachefs)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <kvcachefs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int failed;

static void check(int ok, const char* what, const char* how) {
    printf("  %s %s: %s\n", ok ? "ok  " : "FAIL", how, what);
    if (!ok) failed++;
}

/* Byte i of block b. */
static unsigned char byte_of(size_t b, size_t i) {
    return (unsigned char)(b * 131 + i * 7 + (i >> 12));
}

static int run(const char* pool, size_t blocks, size_t bytes, int flags) {
    kvc_client* c;
    kvc_buffer* buf;
    int rc = kvc_open(pool, flags, &c);
    if (rc) {
        fprintf(stderr, "kvc_open %s: %s\n", pool, strerror(-rc));
        return 1;
    }
    const char* how = kvc_fast_path(c) ? "data path" : "file I/O";
    rc = kvc_buffer_new(c, 2 * blocks * bytes, &buf);
    if (rc) {
        fprintf(stderr, "kvc_buffer_new: %s\n", strerror(-rc));
        kvc_close(c);
        return 1;
    }
    unsigned char* mem = kvc_buffer_data(buf);
    char(*names)[32] = calloc(blocks, sizeof *names);
    struct kvc_store_item* st = calloc(blocks, sizeof *st);
    struct kvc_load_item* ld = calloc(blocks, sizeof *ld);
    for (size_t b = 0; b < blocks; b++) {
        snprintf(names[b], sizeof names[b], "c-blk-%03zu", b);
        for (size_t i = 0; i < bytes; i++) mem[b * bytes + i] = byte_of(b, i);
        st[b].name = names[b];
        st[b].offset = b * bytes;
        st[b].length = bytes;
        st[b].parent = b ? names[b - 1] : NULL;
        ld[b].name = names[b];
        ld[b].offset = (blocks + b) * bytes; /* the second half of the buffer */
        ld[b].capacity = bytes;
    }

    double t0 = now_ms();
    rc = kvc_store(c, buf, st, blocks);
    double store_ms = now_ms() - t0;
    int all = rc == 0;
    for (size_t b = 0; b < blocks; b++) all = all && st[b].error == 0;
    check(all, "stored the chain in one batch", how);

    size_t leading = 0;
    t0 = now_ms();
    long loaded = kvc_load_chain(c, buf, ld, blocks, &leading);
    double load_ms = now_ms() - t0;
    check(loaded == (long)blocks && leading == blocks, "loaded the whole chain", how);
    check(memcmp(mem, mem + blocks * bytes, blocks * bytes) == 0,
          "the loaded bytes are the stored ones", how);

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", pool, names[blocks - 1]);
    unsigned char* got = malloc(bytes);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? pread(fd, got, bytes, 0) : -1;
    if (fd >= 0) close(fd);
    check(n == (ssize_t)bytes && memcmp(got, mem + (blocks - 1) * bytes, bytes) == 0,
          "read(2) of the last block through the mount agrees", how);
    char parent[64] = {0};
    check(getxattr(path, "user.kvcache.parent", parent, sizeof parent - 1) > 0 &&
              strcmp(parent, names[blocks - 2]) == 0,
          "its user.kvcache.parent names the block before", how);
    printf("  %s: stored %zu x %zu bytes in %.2f ms (%.0f MB/s), loaded in %.2f ms (%.0f MB/s)\n",
           how, blocks, bytes, store_ms, blocks * bytes / store_ms / 1e3, load_ms,
           blocks * bytes / load_ms / 1e3);

    for (size_t b = 0; b < blocks; b++) {
        snprintf(path, sizeof path, "%s/%s", pool, names[b]);
        unlink(path);
    }
    free(got);
    free(ld);
    free(st);
    free(names);
    kvc_buffer_free(buf);
    kvc_close(c);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s POOL_DIR [BLOCKS] [BLOCK_BYTES]\n", argv[0]);
        return 2;
    }
    size_t blocks = argc > 2 ? strtoul(argv[2], NULL, 10) : 16;
    size_t bytes = argc > 3 ? strtoul(argv[3], NULL, 10) : 256 * 1024;
    if (blocks < 2 || bytes == 0) {
        fprintf(stderr, "kv_blocks: at least 2 blocks of at least 1 byte\n");
        return 2;
    }
    printf("libkvcachefs %s, %s\n", kvc_version(), argv[1]);
    if (run(argv[1], blocks, bytes, 0) || run(argv[1], blocks, bytes, KVC_NO_FAST_PATH)) return 1;
    if (failed) {
        printf("kv_blocks: %d check(s) FAILED\n", failed);
        return 1;
    }
    printf("kv_blocks: OK\n");
    return 0;
}
