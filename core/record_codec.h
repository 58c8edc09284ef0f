// The variable part of an inode record (chain parent, user xattrs, extents beyond the inline
// ones) as one byte string, and the checksums that guard records against torn writes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/layout.h"

namespace kvc {

struct InodeBlob {
    std::string parent;
    std::map<std::string, std::string> xattrs;
    std::vector<Extent> extra_extents;
    // A symbolic link's target. Encoded after the extents only when not empty, so the blob of
    // every other kind is what builds before symbolic links wrote and read (and a build before
    // them drops a link's record: its blob has bytes it does not know).
    std::string target;
};

std::string encodeBlob(const InodeBlob& blob);
// nullopt when the bytes are not a well-formed blob.
std::optional<InodeBlob> decodeBlob(std::string_view bytes);

uint64_t hashBytes(const void* data, size_t len);
// Checksums of records computed with their checksum field taken as zero.
uint64_t inodeRecordChecksum(const InodeRecord& rec);
uint64_t direntRecordChecksum(const DirentRecord& rec);

}  // namespace kvc
