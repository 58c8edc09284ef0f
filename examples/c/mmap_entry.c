/* mmap_entry: map a kvcachefs entry and print it with its extended attributes.
 *
 *   mmap_entry /kvcache/llama/blk-00a2 [more entries...]
 *
 * For each entry: its size, inode, link count and blocks (stat), an FNV-1a 64-bit checksum and
 * the first bytes of its data read through a read-only MAP_SHARED mapping (the data is read
 * where the mount's page cache holds it: no read(2), no copy), then every extended attribute
 * (listxattr + getxattr), which shows the kvcache metadata that is set (user.kvcache.parent,
 * priority, ...) and whatever the writer stored (user.dtype, user.shape, ...), and the read-only
 * kvcache attributes, which are not listed (so that cp -a does not copy them) but read by name.
 *
 * Only POSIX and Linux calls; nothing kvcachefs-specific is linked. Exit status 0 if every
 * entry was mapped and its attributes read, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* FNV-1a, 64 bit: a checksum anyone can recompute (examples/tests compare it from Python). */
static uint64_t fnv1a64(const unsigned char* p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int printable(const char* v, ssize_t n) {
    for (ssize_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e) return 0;
    return 1;
}

/* Prints one attribute's value; 0, or -1 when it cannot be read. */
static int print_xattr(const char* path, const char* n) {
    ssize_t vlen = getxattr(path, n, NULL, 0);
    char* v = vlen < 0 ? NULL : malloc((size_t)vlen + 1);
    if (vlen >= 0 && !v) return -1;
    if (v) vlen = getxattr(path, n, v, (size_t)vlen);
    if (vlen < 0) {
        /* An attribute may go away between the two calls (e.g. a pin TTL). */
        printf("  %s: (%s)\n", n, strerror(errno));
        free(v);
        return 0;
    }
    if (printable(v, vlen)) {
        v[vlen] = '\0';
        printf("  %s = \"%s\"\n", n, v);
    } else {
        printf("  %s = 0x", n);
        for (ssize_t i = 0; i < vlen; i++) printf("%02x", (unsigned char)v[i]);
        printf(" (%zd bytes)\n", vlen);
    }
    free(v);
    return 0;
}

/* The read-only kvcache attributes, not listed by listxattr but readable by name. */
static void print_read_only(const char* path) {
    static const char* names[] = {"user.kvcache.access_count", "user.kvcache.created",
                                  "user.kvcache.last_access", "user.kvcache.committed"};
    printf("read-only:\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getxattr(path, names[i], NULL, 0) >= 0) print_xattr(path, names[i]);
}

/* Lists every attribute of `path` with its value. Returns 0, or -1 with errno set. */
static int print_xattrs(const char* path) {
    /* Ask for the size first, then fetch; retry if attributes were added in between (ERANGE). */
    for (;;) {
        ssize_t len = listxattr(path, NULL, 0);
        if (len < 0) return -1;
        if (len == 0) {
            printf("xattrs: none\n");
            print_read_only(path);
            return 0;
        }
        char* names = malloc((size_t)len);
        if (!names) return -1;
        ssize_t got = listxattr(path, names, (size_t)len);
        if (got < 0) {
            int e = errno;
            free(names);
            if (e == ERANGE) continue;
            errno = e;
            return -1;
        }
        int count = 0;
        for (char* n = names; n < names + got; n += strlen(n) + 1) count++;
        printf("xattrs: %d\n", count);
        for (char* n = names; n < names + got; n += strlen(n) + 1)
            if (print_xattr(path, n) != 0) {
                free(names);
                return -1;
            }
        free(names);
        print_read_only(path);
        return 0;
    }
}

static int show(const char* path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mmap_entry: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "mmap_entry: fstat %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    printf("entry %s\n", path);
    printf("size %lld bytes, inode %llu, links %lu, blocks %lld (512-byte units)\n",
           (long long)st.st_size, (unsigned long long)st.st_ino, (unsigned long)st.st_nlink,
           (long long)st.st_blocks);

    if (st.st_size > 0) {
        const size_t size = (size_t)st.st_size;
        /* MAP_SHARED, read-only: the pages are the mount's page cache of the entry. */
        unsigned char* p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "mmap_entry: mmap %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        /* The mapping stays valid after close (and even if the entry is evicted meanwhile). */
        close(fd);
        fd = -1;
        madvise(p, size, MADV_SEQUENTIAL);
        printf("fnv1a64 %016llx\n", (unsigned long long)fnv1a64(p, size));
        printf("head");
        for (size_t i = 0; i < size && i < 16; i++) printf(" %02x", p[i]);
        printf("\n");
        munmap(p, size);
    } else {
        printf("fnv1a64 %016llx\n", (unsigned long long)fnv1a64(NULL, 0));
        printf("head (empty)\n");
    }
    if (fd >= 0) close(fd);

    if (print_xattrs(path) != 0) {
        fprintf(stderr, "mmap_entry: xattrs of %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr,
                "usage: %s ENTRY [ENTRY...]\n"
                "maps each kvcachefs entry, prints its checksum and extended attributes\n",
                argv[0]);
        return argc < 2 ? 2 : 0;
    }
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        if (i > 1) printf("\n");
        if (show(argv[i]) != 0) failed = 1;
    }
    return failed;
}
