// Compiled test harness of one Verilated design: the clock loop, TCDM memories, bus masters and
// byte sinks in C++, behind a small C API that flows/native.py loads with ctypes.
//
// The design-specific part is only the port table, ports.inc, which flows/native.py generates
// from the Verilated Vtop.h (one PORT(member, name, width, is_input) line per top-level port). Nothing
// else of the model is public: Verilator optimises across the whole design.
//
// A cycle has the phases of the cocotb testbenches (sim/tb/clock.py):
//   drive  - agents write their inputs (memory: rvalid/rdata of last cycle's granted read;
//            gnt when the grant does not depend on req),
//   settle - clk low, eval(): every combinational output is valid for this cycle; agents that
//            answer within the cycle (memory with comb_gnt: gnt = req & ~stall) write, and the
//            model is evaluated again if they changed anything,
//   sample - agents read what completes at the coming edge (req & gnt, valid bytes),
//   edge   - clk high, eval().
// So the inputs written for cycle t are seen by the design after edge t-1 and before edge t,
// exactly as cocotb's inertial writes, and cycle counts agree with the cocotb testbenches.

#include "Vtop.h"
#include "Vtop___024root.h"
#include "verilated.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Port {
    const char* name;
    int width;
    bool input;
    void* ptr;
    int bytes() const { return width <= 8 ? 1 : width <= 16 ? 2 : width <= 32 ? 4 : width <= 64 ? 8 : 4 * ((width + 31) / 32); }
};

inline uint64_t get64(const Port& p) {
    switch (p.bytes()) {
        case 1: return *static_cast<uint8_t*>(p.ptr);
        case 2: return *static_cast<uint16_t*>(p.ptr);
        case 4: return *static_cast<uint32_t*>(p.ptr);
        case 8: return *static_cast<uint64_t*>(p.ptr);
        default: {
            const uint32_t* w = static_cast<uint32_t*>(p.ptr);
            return w[0] | (uint64_t(w[1]) << 32);
        }
    }
}

inline void set64(const Port& p, uint64_t v) {
    if (p.width < 64) v &= (uint64_t(1) << p.width) - 1;
    switch (p.bytes()) {
        case 1: *static_cast<uint8_t*>(p.ptr) = uint8_t(v); break;
        case 2: *static_cast<uint16_t*>(p.ptr) = uint16_t(v); break;
        case 4: *static_cast<uint32_t*>(p.ptr) = uint32_t(v); break;
        case 8: *static_cast<uint64_t*>(p.ptr) = v; break;
        default: {
            uint32_t* w = static_cast<uint32_t*>(p.ptr);
            std::memset(w, 0, p.bytes());
            w[0] = uint32_t(v);
            w[1] = uint32_t(v >> 32);
        }
    }
}

// Little-endian byte copies between a port and memory (the port's width rounded up to bytes).
inline void port_to_bytes(const Port& p, uint8_t* out) {
    const int n = (p.width + 7) / 8;
    std::memcpy(out, p.ptr, n);   // x86/ARM hosts are little endian, as Verilator's words
}

inline void bytes_to_port(const Port& p, const uint8_t* in) {
    const int n = (p.width + 7) / 8;
    std::memset(p.ptr, 0, p.bytes());
    std::memcpy(p.ptr, in, n);
}

// xorshift64*: the stall draws (seeded per port, reproducible).
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) { if (!s) s = 1; }
    double uniform() {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        return double((s * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
    }
};

struct Memory {
    uint64_t base;
    std::vector<uint8_t> data;
};

struct MemPort {
    Memory* mem;
    const Port *req, *gnt, *addr, *we, *be, *wdata, *rdata, *rvalid;
    int nbytes;
    double stall;
    bool comb_gnt;
    bool early;   // gnt, rvalid, rdata reach the design through registers: written a cycle ahead
    Rng rng;
    bool stalled = false, read_pending = false;
    uint64_t read_addr = 0;
    uint64_t grants = 0, stall_cycles = 0, errors = 0;
    uint64_t first_error_addr = 0;
    std::vector<uint8_t> zero;

    MemPort(Memory* m, const Port* p[8], double stall_, bool comb, bool early_, uint64_t seed)
        : mem(m), req(p[0]), gnt(p[1]), addr(p[2]), we(p[3]), be(p[4]), wdata(p[5]), rdata(p[6]),
          rvalid(p[7]), nbytes((p[5]->width + 7) / 8), stall(stall_), comb_gnt(comb),
          early(early_), rng(seed), zero(nbytes + 8, 0) {
        if (early) next_inputs();   // the first cycle's grant
    }

    bool in_range(uint64_t a) const {
        return a >= mem->base && a - mem->base + nbytes <= mem->data.size() && a % nbytes == 0;
    }

    // The inputs of the next cycle: read data of a read granted in this one, and its grant.
    void next_inputs() {
        drive_read_data();
        stalled = stall > 0 && rng.uniform() < stall;
        set64(*gnt, !stalled);
    }

    void drive_read_data() {
        if (read_pending) {
            bytes_to_port(*rdata, in_range(read_addr) ? &mem->data[read_addr - mem->base] : zero.data());
            set64(*rvalid, 1);
        } else {
            set64(*rvalid, 0);
        }
    }

    void drive() {
        if (early) return;
        drive_read_data();
        stalled = stall > 0 && rng.uniform() < stall;
        if (!comb_gnt) set64(*gnt, !stalled);
    }

    // Returns true if it changed an input (the model must be evaluated again).
    bool respond() {
        if (!comb_gnt) return false;
        const uint64_t g = get64(*req) && !stalled;
        if (g == get64(*gnt)) return false;
        set64(*gnt, g);
        return true;
    }

    void sample() {
        transaction();
        if (early) next_inputs();
    }

    void transaction() {
        read_pending = false;
        if (!get64(*req)) return;
        if (!get64(*gnt)) { ++stall_cycles; return; }
        ++grants;
        const uint64_t a = get64(*addr);
        if (!in_range(a)) {
            if (!errors++) first_error_addr = a;
            read_pending = !get64(*we);
            read_addr = a;
            return;
        }
        if (get64(*we)) {
            const uint64_t b = get64(*be);
            uint8_t buf[256];
            port_to_bytes(*wdata, buf);
            uint8_t* dst = &mem->data[a - mem->base];
            for (int i = 0; i < nbytes; ++i)
                if (b >> i & 1) dst[i] = buf[i];
        } else {
            read_pending = true;
            read_addr = a;
        }
    }
};

struct ByteSink {
    const Port *valid, *data;
    std::string bytes;
    void sample() { if (get64(*valid)) bytes.push_back(char(get64(*data))); }
};

struct Bus {
    const Port *req, *gnt, *addr, *we, *be, *wdata, *rdata, *rvalid;
};

struct Sim {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vtop> top;
    std::vector<Port> ports;
    const Port* clk = nullptr;
    std::vector<std::unique_ptr<Memory>> memories;
    std::vector<std::unique_ptr<MemPort>> mem_ports;
    std::vector<ByteSink> sinks;
    std::vector<Bus> buses;
    uint64_t cycle = 0;
    uint64_t evals = 0;

    Sim() : ctx(new VerilatedContext), top(new Vtop(ctx.get(), "top")) {
        Vtop* t = top.get();
#define PORT(member, name, width, is_input) ports.push_back(Port{name, width, is_input, (void*)&t->member});
#include "ports.inc"
#undef PORT
        for (auto& p : ports)
            if (!std::strcmp(p.name, "clk")) clk = &p;
        if (clk) set64(*clk, 0);
        t->eval();
    }

    ~Sim() { top->final(); }

    int find(const char* name) const {
        for (size_t i = 0; i < ports.size(); ++i)
            if (!std::strcmp(ports[i].name, name)) return int(i);
        return -1;
    }

    // The eight ports of a TCDM port ``prefix`` in the order req, gnt, addr, we, be, wdata,
    // rdata, rvalid; false if one is missing.
    bool tcdm_ports(const char* prefix, const Port* out[8]) const {
        static const char* names[8] = {"req", "gnt", "addr", "we", "be", "wdata", "rdata", "rvalid"};
        for (int k = 0; k < 8; ++k) {
            const int i = find((std::string(prefix) + names[k]).c_str());
            if (i < 0) return false;
            out[k] = &ports[i];
        }
        return true;
    }

    void settle() {
        for (auto& m : mem_ports) m->drive();
        if (clk) set64(*clk, 0);
        top->eval(); ++evals;
        bool again = false;
        for (auto& m : mem_ports) again |= m->respond();
        if (again) { top->eval(); ++evals; }
        for (auto& m : mem_ports) m->sample();
        for (auto& s : sinks) s.sample();
    }

    void edge() {
        if (clk) set64(*clk, 1);
        top->eval(); ++evals;
        ++cycle;
    }
};

// The whole state of one Sim at a point in time: the design's (its root object: plain data,
// plus two pointers that stay the same within one instance), the cycle counters, the memories,
// the memory ports' and byte sinks' state. Restored into the Sim it came from only.
struct Snapshot {
    const Sim* owner;
    std::vector<uint8_t> root;
    uint64_t cycle, evals;
    std::vector<std::vector<uint8_t>> memories;
    std::vector<MemPort> mem_ports;
    std::vector<ByteSink> sinks;

    explicit Snapshot(const Sim& s)
        : owner(&s), root(sizeof(Vtop___024root)), cycle(s.cycle), evals(s.evals), sinks(s.sinks) {
        std::memcpy(root.data(), static_cast<const void*>(s.top->rootp), root.size());
        for (auto& m : s.memories) memories.push_back(m->data);
        for (auto& m : s.mem_ports) mem_ports.push_back(*m);
    }

    // False (nothing restored) if the Sim gained memories or memory ports since.
    bool restore(Sim& s) const {
        if (&s != owner || s.memories.size() != memories.size()
            || s.mem_ports.size() != mem_ports.size())
            return false;
        std::memcpy(static_cast<void*>(s.top->rootp), root.data(), root.size());
        s.cycle = cycle;
        s.evals = evals;
        for (size_t i = 0; i < memories.size(); ++i) s.memories[i]->data = memories[i];
        for (size_t i = 0; i < mem_ports.size(); ++i) *s.mem_ports[i] = mem_ports[i];
        s.sinks = sinks;
        return true;
    }
};

}  // namespace

// gcc's profile runtime, linked only into instrumented builds (weak: null otherwise; the
// function keeps the same control flow in both builds, as -fprofile-use requires).
extern "C" void __gcov_dump(void) __attribute__((weak));
extern "C" void __gcov_reset(void) __attribute__((weak));

extern "C" {

// Profile-guided builds (flows.native.NativeBuild(pgo=True)): write the profile of the
// instrumented library now, and restart counting. Returns 1, or 0 if not instrumented.
int sim_profile_dump(void) {
    if (!__gcov_dump || !__gcov_reset) return 0;
    __gcov_dump();
    __gcov_reset();
    return 1;
}

void* sim_new(void) {
    Sim* s = new Sim;
    if (!s->clk) { delete s; return nullptr; }
    return s;
}

void sim_free(void* h) { delete static_cast<Sim*>(h); }

// A snapshot of the model's whole state (see Snapshot), to start several runs from one point
// (after reset and a program load) without repeating what led there.
void* sim_snapshot(void* h) { return new Snapshot(*static_cast<Sim*>(h)); }

// Back to snapshot ``snap`` of this model. Returns 1, or 0 (another model's snapshot, or
// memories or memory ports were added since: nothing restored).
int sim_restore(void* h, void* snap) {
    return static_cast<const Snapshot*>(snap)->restore(*static_cast<Sim*>(h)) ? 1 : 0;
}

void sim_snapshot_free(void* snap) { delete static_cast<Snapshot*>(snap); }

int sim_port_count(void* h) { return int(static_cast<Sim*>(h)->ports.size()); }

const char* sim_port_name(void* h, int i) { return static_cast<Sim*>(h)->ports[i].name; }

int sim_port_width(void* h, int i) { return static_cast<Sim*>(h)->ports[i].width; }

int sim_port_is_input(void* h, int i) { return static_cast<Sim*>(h)->ports[i].input; }

int sim_port(void* h, const char* name) { return static_cast<Sim*>(h)->find(name); }

uint64_t sim_get(void* h, int i) { return get64(static_cast<Sim*>(h)->ports[i]); }

void sim_set(void* h, int i, uint64_t v) { set64(static_cast<Sim*>(h)->ports[i], v); }

// Any width: little-endian bytes ((width + 7) / 8 of them).
void sim_get_bytes(void* h, int i, uint8_t* out) { port_to_bytes(static_cast<Sim*>(h)->ports[i], out); }

void sim_set_bytes(void* h, int i, const uint8_t* in) { bytes_to_port(static_cast<Sim*>(h)->ports[i], in); }

uint64_t sim_cycle(void* h) { return static_cast<Sim*>(h)->cycle; }

uint64_t sim_evals(void* h) { return static_cast<Sim*>(h)->evals; }

void sim_settle(void* h) { static_cast<Sim*>(h)->settle(); }

void sim_edge(void* h) { static_cast<Sim*>(h)->edge(); }

void sim_step(void* h, uint64_t n) {
    Sim* s = static_cast<Sim*>(h);
    for (uint64_t i = 0; i < n; ++i) { s->settle(); s->edge(); }
}

// Runs until port ``i`` reads ``value`` in a settled cycle (returned in that cycle, before its
// edge) or ``max_cycles`` cycles have passed. Returns the number of edges run; sets *hit.
uint64_t sim_run_until(void* h, int i, uint64_t value, uint64_t max_cycles, int* hit) {
    Sim* s = static_cast<Sim*>(h);
    const Port& p = s->ports[i];
    for (uint64_t n = 0; n < max_cycles; ++n) {
        s->settle();
        if (get64(p) == value) { *hit = 1; return n; }
        s->edge();
    }
    s->settle();
    *hit = get64(p) == value;
    return max_cycles;
}

int sim_memory(void* h, uint64_t base, uint64_t size) {
    Sim* s = static_cast<Sim*>(h);
    s->memories.emplace_back(new Memory{base, std::vector<uint8_t>(size, 0)});
    return int(s->memories.size() - 1);
}

uint8_t* sim_memory_data(void* h, int m) { return static_cast<Sim*>(h)->memories[m]->data.data(); }

// A TCDM slave on the design's master port ``prefix`` (ports prefix + req, gnt, addr, we, be,
// wdata, rdata, rvalid). ``early``: the design receives gnt, rvalid and rdata through registers
// (flows.native.registering_wrapper), so the memory writes them one cycle ahead; the grant
// then cannot depend on req (comb_gnt must be 0). Returns its index, or -1 (a port missing),
// -2 (wider than 2048 bits), -3 (early with comb_gnt).
int sim_memory_port(void* h, int m, const char* prefix, double stall, int comb_gnt, int early,
                    uint64_t seed) {
    Sim* s = static_cast<Sim*>(h);
    const Port* p[8];
    if (!s->tcdm_ports(prefix, p)) return -1;
    if (p[5]->width > 2048) return -2;
    if (early && comb_gnt) return -3;
    s->mem_ports.emplace_back(new MemPort(s->memories[m].get(), p, stall, comb_gnt != 0,
                                          early != 0, seed));
    return int(s->mem_ports.size() - 1);
}

// Counters of a memory port: grants, stall cycles (req refused), errors (out of range or
// misaligned), first error address.
void sim_memory_port_stats(void* h, int k, uint64_t* out) {
    const MemPort& m = *static_cast<Sim*>(h)->mem_ports[k];
    out[0] = m.grants; out[1] = m.stall_cycles; out[2] = m.errors; out[3] = m.first_error_addr;
}

int sim_byte_sink(void* h, int valid, int data) {
    Sim* s = static_cast<Sim*>(h);
    s->sinks.push_back(ByteSink{&s->ports[valid], &s->ports[data], {}});
    return int(s->sinks.size() - 1);
}

// Bytes collected so far by sink ``k`` (copied to ``out`` up to ``cap``); returns the count.
uint64_t sim_byte_sink_read(void* h, int k, uint8_t* out, uint64_t cap) {
    const std::string& b = static_cast<Sim*>(h)->sinks[k].bytes;
    const uint64_t n = b.size() < cap ? b.size() : cap;
    std::memcpy(out, b.data(), n);
    return b.size();
}

void sim_byte_sink_clear(void* h, int k) { static_cast<Sim*>(h)->sinks[k].bytes.clear(); }

// A bus master on the design's slave port ``prefix`` (TCDM protocol: prefix + req, gnt, addr,
// we, be, wdata, rdata, rvalid). Returns its index, or -1 (a port missing).
int sim_bus(void* h, const char* prefix) {
    Sim* s = static_cast<Sim*>(h);
    const Port* p[8];
    if (!s->tcdm_ports(prefix, p)) return -1;
    s->buses.push_back(Bus{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]});
    return int(s->buses.size() - 1);
}

// One access: request until granted (at most max_wait cycles), then for a read the data of the
// cycle with rvalid. Starts in the drive phase and returns in the drive phase of the cycle
// after the access (a write takes one cycle, a read two, without stalls). Returns 0, or
// -1 (no grant), -2 (no rvalid in the cycle after the grant).
int sim_bus_access(void* h, int k, uint64_t addr, int we, const uint8_t* wdata, uint64_t be,
                   uint8_t* rdata, uint64_t max_wait) {
    Sim* s = static_cast<Sim*>(h);
    const Bus& b = s->buses[k];
    set64(*b.req, 1);
    set64(*b.addr, addr);
    set64(*b.we, we ? 1 : 0);
    set64(*b.be, be);
    if (we) bytes_to_port(*b.wdata, wdata);
    bool granted = false;
    for (uint64_t n = 0; n < max_wait && !granted; ++n) {
        s->settle();
        granted = get64(*b.gnt) != 0;
        s->edge();
    }
    set64(*b.req, 0);
    if (!granted) return -1;
    if (!we) {
        s->settle();
        const bool ok = get64(*b.rvalid) != 0;
        port_to_bytes(*b.rdata, rdata);
        s->edge();
        if (!ok) return -2;
    }
    return 0;
}

// ``n`` 32-bit writes (all byte lanes) of ``words`` to ``addrs``, back to back; ``verify``:
// read every word back afterwards. Returns 0, the error of the first failed access, or -4 (a
// word read back differs; its index in *where).
int sim_bus_write_words(void* h, int k, const uint64_t* addrs, const uint32_t* words, uint64_t n,
                        int verify, uint64_t max_wait, uint64_t* where) {
    uint8_t buf[8] = {0};
    for (uint64_t i = 0; i < n; ++i) {
        std::memcpy(buf, &words[i], 4);
        const int r = sim_bus_access(h, k, addrs[i], 1, buf, 0xF, nullptr, max_wait);
        if (r) { *where = i; return r; }
    }
    if (!verify) return 0;
    for (uint64_t i = 0; i < n; ++i) {
        uint32_t got = 0;
        std::memset(buf, 0, sizeof buf);
        const int r = sim_bus_access(h, k, addrs[i], 0, nullptr, 0xF, buf, max_wait);
        std::memcpy(&got, buf, 4);
        if (r) { *where = i; return r; }
        if (got != words[i]) { *where = i; return -4; }
    }
    return 0;
}

}  // extern "C"
