// kvcachefs daemon: parse options, attach pools, mount, serve, unmount. Each step's undo is
// owned by an object, so teardown runs in reverse on every path.
#include <fuse_lowlevel.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "fs/daemon.h"
#include "fs/data_service.h"
#include "fs/filesystem.h"
#include "fs/log.h"
#include "fs/mount_restore.h"
#include "fs/options.h"

namespace {

using kvc::fs::log;
using kvc::fs::LogLevel;

struct ArgsGuard {
    fuse_args args;
    ~ArgsGuard() { fuse_opt_free_args(&args); }
};

struct SessionGuard {
    fuse_session* se = nullptr;
    ~SessionGuard() {
        if (se) fuse_session_destroy(se);
    }
};

struct SignalGuard {
    fuse_session* se = nullptr;
    ~SignalGuard() {
        if (se) fuse_remove_signal_handlers(se);
    }
};

struct MountGuard {
    fuse_session* se = nullptr;
    ~MountGuard() {
        if (se) fuse_session_unmount(se);
    }
};

struct NotifierGuard {
    kvc::fs::Filesystem* fs = nullptr;
    ~NotifierGuard() {
        if (fs) fs->stopNotifier();
    }
};

}  // namespace

int main(int argc, char* argv[]) {
    // `kvcachefs snapshot ...` and `kvcachefs restore ...` are commands, not mounts.
    if (kvc::cli::isCommand(argc, argv)) return kvc::cli::runCommand(argc, argv);
    ArgsGuard a{FUSE_ARGS_INIT(argc, argv)};
    auto parsed = kvc::fs::parseDaemonOptions(a.args);
    if (!parsed) {
        std::fprintf(stderr, "kvcachefs: %s\n", parsed.error().message.c_str());
        return 1;
    }
    if (parsed->show_help) {
        kvc::fs::printUsage(argv[0]);
        return 0;
    }
    if (parsed->show_version) {
        std::printf("kvcachefs %s (libfuse %s)\n", KVCACHEFS_VERSION, fuse_pkgversion());
        return 0;
    }
    // Background daemons log to syslog from the start (or to stderr where there is none: see
    // fs/log.h); errors that stop the mount are also printed to stderr below.
    const kvc::fs::LogTarget log_target =
        kvc::fs::logInit(!parsed->foreground, parsed->debug ? LogLevel::Debug : LogLevel::Info);
    // A background daemon splits off here, before anything starts a thread (fs/daemon.h).
    auto daemon = kvc::fs::Daemon::detach(parsed->foreground);
    if (!daemon) {
        std::fprintf(stderr, "kvcachefs: %s\n", daemon.error().message.c_str());
        return 1;
    }

    auto fs = std::make_unique<kvc::fs::Filesystem>(std::move(*parsed));
    if (auto st = fs->start(); !st) {
        std::fprintf(stderr, "kvcachefs: %s\n", st.error().message.c_str());
        return 1;
    }
    const kvc::fs::DaemonOptions& o = fs->options();
    // Before the mount exists: a bad image fails the mount, and nobody sees a partial pool.
    if (!o.restore_path.empty()) {
        if (auto st = kvc::fs::restoreAtMount(*fs, o.restore_path); !st) {
            std::fprintf(stderr, "kvcachefs: %s\n", st.error().message.c_str());
            return 1;
        }
    }

    SessionGuard session{
        fuse_session_new(&a.args, &kvc::fs::lowlevelOps(), sizeof(fuse_lowlevel_ops), fs.get())};
    if (!session.se) return 1;  // libfuse printed which option it did not know
    SignalGuard signals;
    if (fuse_set_signal_handlers(session.se) != 0) return 1;
    signals.se = session.se;
    if (fuse_session_mount(session.se, o.mountpoint.c_str()) != 0) {
        std::fprintf(stderr, "kvcachefs: cannot mount on %s\n", o.mountpoint.c_str());
        return 1;
    }
    MountGuard mount{session.se};
    log(LogLevel::Info, "mounted {} on {} (instance {}, {} pools)", o.source, o.mountpoint,
        o.instance, fs->pools().size());

    fs->startNotifier(session.se);
    NotifierGuard notifier{fs.get()};
    // The data path. A socket that cannot be made leaves the mount without it: clients fall back
    // to the files.
    std::unique_ptr<kvc::fs::DataService> data;
    if (o.data_socket != "none") {
        const std::string path =
            o.data_socket.empty() ? kvc::fs::defaultDataSocket(o.instance) : o.data_socket;
        data = std::make_unique<kvc::fs::DataService>(*fs, path);
        if (auto st = data->start(); !st) {
            log(LogLevel::Warning, "no data path: {}", st.error().message);
            data.reset();
        } else {
            fs->setDataSocket(path);
        }
    }
    // Everything serves: `mount` returns. A daemon with no syslog keeps its stderr (fs/log.h).
    daemon->ready(log_target == kvc::fs::LogTarget::Stderr);
    int rc;
    if (o.singlethread) {
        rc = fuse_session_loop(session.se);
    } else {
        fuse_loop_config* cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_max_threads(cfg, o.max_threads);
        fuse_loop_cfg_set_idle_threads(cfg, 4);
        rc = fuse_session_loop_mt(session.se, cfg);
        fuse_loop_cfg_destroy(cfg);
    }
    if (data) data->stop();  // no request reaches a pool after this
    fs->detachAll();
    // The loop returns 0 after an unmount, the (positive) number of the signal that stopped
    // it (SIGTERM, SIGINT, SIGHUP: a clean stop too), or -errno.
    log(LogLevel::Info, "unmounting {} ({})", o.mountpoint,
        rc == 0  ? "clean"
        : rc > 0 ? fmt::format("signal {}", rc)
                 : "loop error");
    return rc >= 0 ? 0 : 1;
}
