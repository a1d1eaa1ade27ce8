// Free-running Verilator harness for qkspike_core: whole utterances at full speed.
//
// The host side is sim/harness.py. It writes the utterances as one binary file of feature
// bytes, runs this program, and reads back one binary file of results; the golden model and
// the bit-for-bit comparison stay on the host. The clock and the streams live here in C++, so
// a simulated cycle costs two eval() calls and nothing else (cocotb's Python clock costs two
// wake-ups per cycle and an await per feature byte).
//
// Usage: qkspike_core_harness FEATURES RESULTS CLIPS BYTES_PER_CLIP STATS MAX_CYCLES
//                             FRAME_BYTES DECISION
//
// DECISION = 1 runs every clip a second time to measure its decision latency: every frame
// but the last goes in, then the input waits until the core says `waiting` (all of it
// processed, as when frames arrive in real time), then the last frame goes in; the
// decision latency is the rising edges from the one that takes the last byte to the one
// that ends the utterance (`done`). That run's logits and prediction must equal the
// full-speed run's (the harness fails otherwise).
//
// Stream rules, as the core's Amaranth streams define them: the input's valid and payload are
// set before the clock edge and held until a cycle in which ready was high at the edge;
// o.ready is always 1 (the logits never wait). Outputs are sampled after the falling-edge
// eval, i.e. the values the design presents during the cycle, before the rising edge.
//
// Results, per clip, all little-endian:
//   u32 trace_events, u32 logit_words
//   trace_events x { u32 layer, u32 step, u32 chunk, u32 0, SPIKES, RESIDUAL }
//   logit_words x LOGIT_WORD
//   u32 predicted, STATS x u32 counter, u64 cycles (rising edges from the first byte to done),
//   u64 decision cycles, u64 cycles of the decision run (both 0 without DECISION)
// where a port of up to 64 bits is written as a u64 and a wider one as its 32-bit words.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "Vqkspike_core.h"
#include "verilated.h"

namespace {

std::vector<uint8_t> out;

void put_u32(uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

void put_u64(uint64_t value) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// A port of up to 64 bits (CData, SData, IData, QData).
template <typename T>
void put_port(const T& value) { put_u64(static_cast<uint64_t>(value)); }

// A port wider than 64 bits: its 32-bit words, least significant first.
template <std::size_t N>
void put_port(const VlWide<N>& value) {
    for (std::size_t i = 0; i < N; ++i) put_u32(value[i]);
}

[[noreturn]] void fail(const char* message) {
    std::fprintf(stderr, "qkspike_core_harness: %s\n", message);
    std::exit(2);
}

}  // namespace

struct ClipRun {
    uint64_t cycles = 0;      // rising edges from the first byte's to done's
    uint64_t decision = 0;    // rising edges from the last byte's to done's
    uint32_t events = 0, logit_words = 0, predicted = 0;
    std::vector<uint8_t> trace, logits;
};

int main(int argc, char** argv) {
    if (argc != 9)
        fail("usage: FEATURES RESULTS CLIPS BYTES_PER_CLIP STATS MAX_CYCLES FRAME_BYTES DECISION");
    const long clips = std::atol(argv[3]);
    const long bytes_per_clip = std::atol(argv[4]);
    const int stats = std::atoi(argv[5]);
    const uint64_t max_cycles = std::strtoull(argv[6], nullptr, 10);
    const long frame_bytes = std::atol(argv[7]);
    const bool decision = std::atoi(argv[8]) != 0;
    if (clips < 0 || bytes_per_clip < 1 || stats < 0 || frame_bytes < 1 ||
        frame_bytes > bytes_per_clip)
        fail("bad sizes");

    std::vector<uint8_t> features(static_cast<std::size_t>(clips * bytes_per_clip));
    FILE* in = std::fopen(argv[1], "rb");
    if (!in) fail("cannot open the features file");
    if (std::fread(features.data(), 1, features.size(), in) != features.size())
        fail("the features file is shorter than CLIPS x BYTES_PER_CLIP");
    std::fclose(in);

    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    auto top = std::make_unique<Vqkspike_core>(context.get());

    auto rising_edge = [&]() {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    };
    top->clk = 0;
    top->rst = 1;
    top->i___05Fvalid = 0;
    top->o___05Fready = 1;
    top->stat_select = 0;
    top->eval();
    rising_edge();
    rising_edge();
    top->rst = 0;
    top->eval();

    // One utterance. hold_at: the byte the input stops before until `waiting` (or -1).
    auto run_clip = [&](const uint8_t* bytes, long hold_at, bool record_trace) {
        ClipRun run;
        long sent = 0;
        bool done = false, holding = hold_at >= 0;
        while (!done) {
            top->eval();
            if (holding && sent == hold_at && top->waiting) holding = false;
            const bool sending = sent < bytes_per_clip && !(holding && sent == hold_at);
            top->i___05Fvalid = sending;
            if (sending)
                top->i___05Fpayload = bytes[sent] | ((sent == bytes_per_clip - 1) << 8);
            top->eval();
            const bool accepted = sending && top->i___05Fready;
            if (record_trace && top->trace_valid) {
                std::swap(out, run.trace);
                put_u32(top->trace_layer);
                put_u32(top->trace_step);
                put_u32(top->trace_chunk);
                put_u32(0);
                put_port(top->trace_spikes);
                put_port(top->trace_residual);
                std::swap(out, run.trace);
                ++run.events;
            }
            if (top->o___05Fvalid) {
                std::swap(out, run.logits);
                put_port(top->o___05Fpayload);
                std::swap(out, run.logits);
                ++run.logit_words;
            }
            if (top->done) {
                done = true;
                run.predicted = top->predicted;
            }
            rising_edge();
            ++run.cycles;
            if (sent == bytes_per_clip) ++run.decision;
            if (accepted) ++sent;
            if (run.cycles > max_cycles) fail("an utterance ran past MAX_CYCLES without done");
        }
        // Counted from the edge that took the last byte, that edge included.
        ++run.decision;
        return run;
    };

    for (long clip = 0; clip < clips; ++clip) {
        const uint8_t* bytes = features.data() + clip * bytes_per_clip;
        top->stat_select = 0;
        ClipRun run = run_clip(bytes, -1, true);
        put_u32(run.events);
        put_u32(run.logit_words);
        out.insert(out.end(), run.trace.begin(), run.trace.end());
        out.insert(out.end(), run.logits.begin(), run.logits.end());
        put_u32(run.predicted);
        for (int index = 0; index < stats; ++index) {
            top->stat_select = index;
            top->eval();
            put_u32(top->stat_value);
        }
        top->stat_select = 0;
        top->eval();
        put_u64(run.cycles);
        if (decision) {
            // The last frame starts at a multiple of frame_bytes (the clip is whole frames).
            const long last_frame = ((bytes_per_clip - 1) / frame_bytes) * frame_bytes;
            ClipRun paused = run_clip(bytes, last_frame, false);
            if (paused.logits != run.logits || paused.predicted != run.predicted)
                fail("the decision run's logits differ from the full-speed run's");
            put_u64(paused.decision);
            put_u64(paused.cycles);
        } else {
            put_u64(0);
            put_u64(0);
        }
    }
    top->final();

    FILE* result = std::fopen(argv[2], "wb");
    if (!result) fail("cannot open the results file");
    if (std::fwrite(out.data(), 1, out.size(), result) != out.size()) fail("short write");
    std::fclose(result);
    return 0;
}
