// Free-running Verilator harness for qkspike_core: whole utterances at full speed.
//
// The host side is sim/harness.py. It writes the utterances as one binary file of feature
// bytes, runs this program, and reads back one binary file of results; the golden model and
// the bit-for-bit comparison stay on the host. The clock and the streams live here in C++, so
// a simulated cycle costs two eval() calls and nothing else (cocotb's Python clock costs two
// wake-ups per cycle and an await per feature byte).
//
// Usage: qkspike_core_harness FEATURES RESULTS CLIPS BYTES_PER_CLIP STATS MAX_CYCLES
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
//   u32 predicted, STATS x u32 counter, u64 cycles (rising edges from the first byte to done)
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

int main(int argc, char** argv) {
    if (argc != 7) fail("usage: FEATURES RESULTS CLIPS BYTES_PER_CLIP STATS MAX_CYCLES");
    const long clips = std::atol(argv[3]);
    const long bytes_per_clip = std::atol(argv[4]);
    const int stats = std::atoi(argv[5]);
    const uint64_t max_cycles = std::strtoull(argv[6], nullptr, 10);
    if (clips < 0 || bytes_per_clip < 1 || stats < 0) fail("bad sizes");

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

    for (long clip = 0; clip < clips; ++clip) {
        const uint8_t* bytes = features.data() + clip * bytes_per_clip;
        std::size_t header = out.size();
        put_u32(0);  // trace events, patched below
        put_u32(0);  // logit words, patched below
        uint32_t events = 0, logit_words = 0;
        std::vector<uint8_t> logits_out;
        long sent = 0;
        uint64_t cycles = 0;
        bool done = false;
        uint32_t predicted = 0;
        top->stat_select = 0;
        while (!done) {
            const bool sending = sent < bytes_per_clip;
            top->i___05Fvalid = sending;
            if (sending)
                top->i___05Fpayload = bytes[sent] | ((sent == bytes_per_clip - 1) << 8);
            top->eval();
            const bool accepted = sending && top->i___05Fready;
            if (top->trace_valid) {
                put_u32(top->trace_layer);
                put_u32(top->trace_step);
                put_u32(top->trace_chunk);
                put_u32(0);
                put_port(top->trace_spikes);
                put_port(top->trace_residual);
                ++events;
            }
            if (top->o___05Fvalid) {
                // Logits go to a side buffer: they follow the trace in the record.
                std::swap(out, logits_out);
                put_port(top->o___05Fpayload);
                std::swap(out, logits_out);
                ++logit_words;
            }
            if (top->done) {
                done = true;
                predicted = top->predicted;
            }
            rising_edge();
            ++cycles;
            if (accepted) ++sent;
            if (cycles > max_cycles) fail("an utterance ran past MAX_CYCLES without done");
        }
        for (int i = 0; i < 4; ++i) {
            out[header + i] = static_cast<uint8_t>(events >> (8 * i));
            out[header + 4 + i] = static_cast<uint8_t>(logit_words >> (8 * i));
        }
        out.insert(out.end(), logits_out.begin(), logits_out.end());
        put_u32(predicted);
        for (int index = 0; index < stats; ++index) {
            top->stat_select = index;
            top->eval();
            put_u32(top->stat_value);
        }
        top->stat_select = 0;
        top->eval();
        put_u64(cycles);
    }
    top->final();

    FILE* result = std::fopen(argv[2], "wb");
    if (!result) fail("cannot open the results file");
    if (std::fwrite(out.data(), 1, out.size(), result) != out.size()) fail("short write");
    std::fclose(result);
    return 0;
}
