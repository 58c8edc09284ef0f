// The `restore=FILE` mount option: before the daemon mounts and serves, the snapshot image is
// verified whole and loaded into the pool it names, through the Pool API (restoreIntoPool). The
// daemon never writes through its own mount, and nobody sees a half-restored pool.
//
// The pool is the one named in the image. If the instance has no such pool (none reattached,
// none declared in the config file), it is created with the mount's defaults except for the
// block size, policy and capacity, which come from the image (a pool of another block size
// could never take it, and the pool the image was taken from had that size). Restoring merges:
// entries of the image replace same-named ones, others stay. A bad image fails the mount with the
// reader's message; a pool created for it is removed again.
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "core/policy/eviction_policy.h"
#include "core/pool_restore.h"
#include "core/snapshot_format.h"
#include "fs/filesystem.h"
#include "fs/log.h"
#include "fs/mount_restore.h"

namespace kvc::fs {

Status restoreAtMount(Filesystem& fs, const std::string& file) {
    const auto start = std::chrono::steady_clock::now();
    auto prefixed = [](const Error& e) {
        return makeError(e.code, fmt::format("option restore: {}", e.message));
    };
    auto image = SnapshotReader::open(file);
    if (!image) return prefixed(image.error());
    const SnapshotHeader& h = (*image)->header();

    std::shared_ptr<PoolSlot> slot = fs.poolByName(h.pool);
    const bool created = !slot;
    if (created) {
        PoolSettings settings = fs.settingsFor(h.pool);
        settings.block_size = h.block_size;
        if (makePolicy(h.policy)) settings.policy = h.policy;
        if (h.capacity_bytes) settings.size = h.capacity_bytes;
        auto made = fs.createPool(h.pool, settings, 0755, getuid(), getgid());
        if (!made) return prefixed(made.error());
        slot = *made;
    }
    PoolRestoreOptions options;
    options.created_pool = created;
    auto report = restoreIntoPool(*slot->pool, **image, options);
    if (!report) {
        if (created) (void)fs.removePool(h.pool);  // only if still empty
        return prefixed(report.error());
    }
    for (const std::string& w : report->warnings)
        log(LogLevel::Warning, "pool {}: restore from {}: {}", h.pool, file, w);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log(LogLevel::Info,
        "pool {}: restored {} entries, {} directories, {} bytes from {} in "
        "{:.2f} s ({} replaced)",
        h.pool, report->entries, report->directories, report->bytes, file, secs, report->replaced);
    return {};
}

}  // namespace kvc::fs
