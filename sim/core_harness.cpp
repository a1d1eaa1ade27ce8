// Free-running Verilator harness for qkspike_core: whole utterances at full speed.
//
// The host side is sim/harness.py. It writes the utterances as one binary file of input
// beats (each the payload port's value: feature bytes and `last`), runs this program, and
// reads back one binary file of results; the golden model and
// the bit-for-bit comparison stay on the host. The clock and the streams live here in C++, so
// a simulated cycle costs two eval() calls and nothing else (cocotb's Python clock costs two
// wake-ups per cycle and an await per input beat).
//
// Usage: qkspike_core_harness FEATURES RESULTS CLIPS BEATS_PER_CLIP BEAT_BYTES STATS
//                             MAX_CYCLES FRAME_BEATS DECISION
//
// Each beat takes BEAT_BYTES of FEATURES, little-endian: a u64 for a payload of up to 64
// bits, else its 32-bit words (as the results below write ports).
//
// DECISION = 1 runs every clip a second time to measure its decision latency: every frame
// but the last goes in, then the input waits until the core says `waiting` (all of it
// processed, as when frames arrive in real time), then the last frame goes in; the
// decision latency is the rising edges from the one that takes the last beat to the one
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
//   u32 predicted, STATS x u32 counter, u64 cycles (rising edges from the first beat to done),
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

// Set a port of up to 64 bits from a u64, or a wider one from its 32-bit words.
template <typename T>
void set_port(T& port, const uint8_t* bytes) {
    uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
    port = static_cast<T>(value);
}

// Bytes a port takes in the files: 8 up to 64 bits, else its 32-bit words.
template <typename T>
long port_size(const T&) { return 8; }

template <std::size_t N>
long port_size(const VlWide<N>&) { return 4 * static_cast<long>(N); }

template <std::size_t N>
void set_port(VlWide<N>& port, const uint8_t* bytes) {
    for (std::size_t word = 0; word < N; ++word) {
        uint32_t value = 0;
        for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(bytes[4 * word + i]) << (8 * i);
        port[word] = value;
    }
}

[[noreturn]] void fail(const char* message) {
    std::fprintf(stderr, "qkspike_core_harness: %s\n", message);
    std::exit(2);
}

}  // namespace

struct ClipRun {
    uint64_t cycles = 0;      // rising edges from the first beat's to done's
    uint64_t decision = 0;    // rising edges from the last beat's to done's
    uint32_t events = 0, logit_words = 0, predicted = 0;
    std::vector<uint8_t> trace, logits;
};

int main(int argc, char** argv) {
    if (argc != 10)
        fail("usage: FEATURES RESULTS CLIPS BEATS_PER_CLIP BEAT_BYTES STATS MAX_CYCLES "
             "FRAME_BEATS DECISION");
    const long clips = std::atol(argv[3]);
    const long beats_per_clip = std::atol(argv[4]);
    const long beat_bytes = std::atol(argv[5]);
    const int stats = std::atoi(argv[6]);
    const uint64_t max_cycles = std::strtoull(argv[7], nullptr, 10);
    const long frame_beats = std::atol(argv[8]);
    const bool decision = std::atoi(argv[9]) != 0;
    if (clips < 0 || beats_per_clip < 1 || stats < 0 || frame_beats < 1 ||
        frame_beats > beats_per_clip || beat_bytes < 1)
        fail("bad sizes");

    std::vector<uint8_t> features(static_cast<std::size_t>(clips * beats_per_clip * beat_bytes));
    FILE* in = std::fopen(argv[1], "rb");
    if (!in) fail("cannot open the features file");
    if (std::fread(features.data(), 1, features.size(), in) != features.size())
        fail("the features file is shorter than CLIPS x BEATS_PER_CLIP x BEAT_BYTES");
    std::fclose(in);

    auto context = std::make_unique<VerilatedContext>();
    context->commandArgs(argc, argv);
    auto top = std::make_unique<Vqkspike_core>(context.get());
    if (beat_bytes != port_size(top->i___05Fpayload))
        fail("BEAT_BYTES does not match the core's input payload port");

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

    // One utterance. hold_at: the beat the input stops before until `waiting` (or -1).
    auto run_clip = [&](const uint8_t* beats, long hold_at, bool record_trace) {
        ClipRun run;
        long sent = 0;
        bool done = false, holding = hold_at >= 0;
        while (!done) {
            top->eval();
            if (holding && sent == hold_at && top->waiting) holding = false;
            const bool sending = sent < beats_per_clip && !(holding && sent == hold_at);
            top->i___05Fvalid = sending;
            if (sending)
                set_port(top->i___05Fpayload, beats + sent * beat_bytes);
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
            if (sent == beats_per_clip) ++run.decision;
            if (accepted) ++sent;
            if (run.cycles > max_cycles) fail("an utterance ran past MAX_CYCLES without done");
        }
        // Counted from the edge that took the last beat, that edge included.
        ++run.decision;
        return run;
    };

    for (long clip = 0; clip < clips; ++clip) {
        const uint8_t* beats = features.data() + clip * beats_per_clip * beat_bytes;
        top->stat_select = 0;
        ClipRun run = run_clip(beats, -1, true);
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
            // The last frame starts at a multiple of frame_beats (the clip is whole frames).
            const long last_frame = ((beats_per_clip - 1) / frame_beats) * frame_beats;
            ClipRun paused = run_clip(beats, last_frame, false);
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
