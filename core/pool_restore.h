// Restoring a snapshot image straight into a Pool object, through its public API only (create,
// write, setxattr, setattr, rename, link, release, forget). The daemon uses it for the
// `restore=FILE` mount option, before it serves requests: it must never write through its own
// mount. The semantics (merge or replace, smaller pools, what is not restored) are those of
// restoreImage() in core/snapshot_restore.h.
#pragma once

#include "core/pool.h"
#include "core/snapshot_format.h"
#include "core/snapshot_restore.h"

namespace kvc {

struct PoolRestoreOptions {
    RestoreOptions restore;
    // The pool was made for this restore: it also takes the mode and owner of the image's pool
    // directory. An existing pool keeps its own.
    bool created_pool = false;
};

// Owners, modes and times come from the image (the daemon restores on the operator's behalf).
Result<RestoreReport> restoreIntoPool(Pool& pool, SnapshotReader& image,
                                      const PoolRestoreOptions& options = {});

}  // namespace kvc
