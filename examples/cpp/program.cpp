// program.cpp: the RTR C API from C++17.
//
// Shows that include/rtr.h works from C++ (extern "C", string literals as
// facility names, const message buffers) and one way to wrap it:
//   - rtr::Channel: an RAII owner of one channel (closed in the destructor,
//     movable, not copyable), whose calls throw rtr::Error on failure;
//   - a server in a std::thread, a client in main;
//   - rtr::Error carries the status and rtr_error_text.
//
// Transactions: NUM_COMMIT that commit, then one the client aborts with
// rtr_reject_tx and a reason, which the server sees in its rtr_mt_rejected.
//
// Output (checked by ffi/tests/c_programs.rs):
//     cpp client: committed=10 rejected=1 reason=7
//     cpp server: committed=10 rejected=1 reason=7 replies=11

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "rtr.h"

namespace rtr {

class Error : public std::runtime_error {
  public:
    Error(const std::string &call, rtr_status_t status)
        : std::runtime_error(call + ": " + rtr_error_text(status)), status_(status) {}
    rtr_status_t status() const { return status_; }

  private:
    rtr_status_t status_;
};

inline void check(const char *call, rtr_status_t s) {
    if (s != RTR_STS_OK) throw Error(call, s);
}

// A received message: status block plus data.
struct Message {
    rtr_msgsb_t sb{};
    union {
        rtr_status_data_t status;
        char bytes[RTR_MAX_MSGLEN];
    } data{};
};

// Owns one open channel. Use from one thread at a time (as the C API asks).
class Channel {
  public:
    // A client channel of `facility`.
    static Channel client(const char *facility) {
        return Channel(RTR_F_OPE_CLIENT, facility, RTR_NO_NUMSEG, RTR_NO_PKEYSEG);
    }

    // A server channel for the 4-byte unsigned keys lo..hi at offset 0.
    static Channel server(const char *facility, std::uint32_t lo, std::uint32_t hi, rtr_ope_flag_t extra = 0) {
        rtr_keyseg_t ks{};
        ks.ks_type = rtr_keyseg_unsigned;
        ks.ks_length = sizeof(std::uint32_t);
        ks.ks_offset = 0;
        ks.ks_lo_bound = &lo;
        ks.ks_hi_bound = &hi;
        return Channel(RTR_F_OPE_SERVER | extra, facility, 1, &ks);
    }

    Channel(const Channel &) = delete;
    Channel &operator=(const Channel &) = delete;
    Channel(Channel &&other) noexcept : ch_(std::exchange(other.ch_, 0)) {}
    Channel &operator=(Channel &&other) noexcept {
        if (this != &other) {
            close();
            ch_ = std::exchange(other.ch_, 0);
        }
        return *this;
    }
    ~Channel() { close(); }

    rtr_channel_t id() const { return ch_; }

    // Receive the next message of this channel; false on timeout.
    bool receive(Message &m, rtr_timout_t timeout_ms) {
        std::array<rtr_channel_t, 2> list{ch_, RTR_CHAN_ENDLIST};
        rtr_channel_t from = 0;
        rtr_status_t s =
            rtr_receive_message(&from, RTR_NO_FLAGS, list.data(), &m.data, sizeof m.data, timeout_ms, &m.sb);
        if (s == RTR_STS_TIMOUT) return false;
        check("rtr_receive_message", s);
        if (from != ch_) throw std::logic_error("message from another channel");
        return true;
    }

    // Wait for the asynchronous result of the open.
    void wait_opened() {
        Message m;
        if (!receive(m, 10000)) throw std::runtime_error("open: no answer");
        if (m.sb.msgtype != rtr_mt_opened) throw Error("open", m.data.status.status);
    }

    void start_tx(rtr_timout_t timeout_ms) {
        check("rtr_start_tx", rtr_start_tx(ch_, RTR_NO_FLAGS, timeout_ms, RTR_NO_JOINCHAN));
    }
    template <class T> void send(const T &msg, rtr_sen_flag_t flags = RTR_NO_FLAGS) {
        check("rtr_send_to_server", rtr_send_to_server(ch_, flags, &msg, sizeof msg, RTR_NO_MSGFMT));
    }
    template <class T> void reply(const T &msg, rtr_rep_flag_t flags = RTR_NO_FLAGS) {
        check("rtr_reply_to_client", rtr_reply_to_client(ch_, flags, &msg, sizeof msg, RTR_NO_MSGFMT));
    }
    void accept(rtr_reason_t reason = RTR_NO_REASON) {
        check("rtr_accept_tx", rtr_accept_tx(ch_, RTR_NO_FLAGS, reason));
    }
    void reject(rtr_reason_t reason) { check("rtr_reject_tx", rtr_reject_tx(ch_, RTR_NO_FLAGS, reason)); }

  private:
    Channel(rtr_ope_flag_t flags, const char *facility, rtr_numseg_t numseg, rtr_keyseg_t *keys) {
        check("rtr_open_channel", rtr_open_channel(&ch_, flags, facility, RTR_NO_RCPNAM, RTR_NO_PEVTNUM,
                                                   RTR_NO_ACCESS, numseg, keys));
    }
    void close() noexcept {
        if (ch_ != 0) {
            rtr_status_t s = rtr_close_channel(ch_, RTR_NO_FLAGS);
            if (s != RTR_STS_OK) std::fprintf(stderr, "rtr_close_channel: %s\n", rtr_error_text(s));
            ch_ = 0;
        }
    }

    rtr_channel_t ch_ = 0;
};

}  // namespace rtr

namespace {

constexpr const char *kFacility = "EXAMPLE_CPP";
constexpr int kCommit = 10;
constexpr rtr_reason_t kAbortReason = 7;

struct Request {
    std::uint32_t key;
    std::uint32_t seq;
};

struct Reply {
    std::uint32_t seq;
    std::uint32_t squared;
};

struct Tally {
    int committed = 0;
    int rejected = 0;
    rtr_reason_t reason = 0;
    int replies = 0;
};

}  // namespace

int main() {
    std::atomic<bool> ready{false}, stop{false}, server_failed{false};
    Tally server_tally;

    std::thread server([&] {
        try {
            auto ch = rtr::Channel::server(kFacility, 0, 1000);
            ch.wait_opened();
            ready = true;
            bool in_tx = false;
            rtr::Message m;
            for (;;) {
                // Receiving again is the server's implicit accept.
                if (!ch.receive(m, 50)) {
                    if (!in_tx && stop) break;
                    continue;
                }
                switch (m.sb.msgtype) {
                    case rtr_mt_msg1: {
                        Request req;
                        std::memcpy(&req, m.data.bytes, sizeof req);
                        in_tx = true;
                        ch.reply(Reply{req.seq, req.seq * req.seq});
                        server_tally.replies++;
                        break;
                    }
                    case rtr_mt_accepted:
                        server_tally.committed++;
                        in_tx = false;
                        break;
                    case rtr_mt_rejected:
                        server_tally.rejected++;
                        server_tally.reason = m.data.status.reason;
                        in_tx = false;
                        break;
                    default:
                        throw std::runtime_error("server: unexpected message type " +
                                                 std::to_string(static_cast<int>(m.sb.msgtype)));
                }
            }
        } catch (const std::exception &e) {
            std::fprintf(stderr, "server: %s\n", e.what());
            server_failed = true;
            ready = true;
        }
    });

    Tally client_tally;
    int status = 0;
    try {
        while (!ready) std::this_thread::yield();
        if (server_failed) throw std::runtime_error("the server did not start");
        auto ch = rtr::Channel::client(kFacility);
        ch.wait_opened();
        rtr::Message m;
        for (std::uint32_t i = 0; i <= kCommit; i++) {
            const bool abort = i == kCommit;
            ch.start_tx(5000);
            ch.send(Request{i * 10, i});
            if (!ch.receive(m, 10000) || m.sb.msgtype != rtr_mt_reply) throw std::runtime_error("no reply");
            Reply rep;
            std::memcpy(&rep, m.data.bytes, sizeof rep);
            if (rep.seq != i || rep.squared != i * i) throw std::runtime_error("wrong reply");
            if (abort)
                ch.reject(kAbortReason);
            else
                ch.accept();
            if (!ch.receive(m, 10000)) throw std::runtime_error("no outcome");
            if (m.sb.msgtype == rtr_mt_accepted) {
                client_tally.committed++;
            } else if (m.sb.msgtype == rtr_mt_rejected) {
                client_tally.rejected++;
                client_tally.reason = m.data.status.reason;
            } else {
                throw std::runtime_error("unexpected outcome message");
            }
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "client: %s\n", e.what());
        status = 1;
    }
    stop = true;
    server.join();

    std::printf("cpp client: committed=%d rejected=%d reason=%u\n", client_tally.committed, client_tally.rejected,
                static_cast<unsigned>(client_tally.reason));
    std::printf("cpp server: committed=%d rejected=%d reason=%u replies=%d\n", server_tally.committed,
                server_tally.rejected, static_cast<unsigned>(server_tally.reason), server_tally.replies);
    if (server_failed) status = 1;
    if (client_tally.committed != kCommit || client_tally.rejected != 1 || client_tally.reason != kAbortReason)
        status = 1;
    return status;
}
