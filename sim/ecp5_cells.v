// Behavioural models of the four Lattice ECP5 primitives Amaranth's platform puts around a
// board top (pin buffers, the power-on reset synchroniser), so that Verilator can run the
// very netlist the ECPIX-5 bitstream is built from. Not timing models.
// IB: input buffer.
module IB(input I, output O);
  assign O = I;
endmodule
// OBZ: output buffer with a tristate enable; the board top never tri-states (T = 0).
module OBZ(input I, input T, output O);
  assign O = I;
endmodule
// FD1S3AX: a D flip-flop (rising edge) whose power-on value is 0.
module FD1S3AX(input CK, input D, output reg Q);
  parameter GSR = "ENABLED";
  initial Q = 1'b0;
  always @(posedge CK) Q <= D;
endmodule
// SGSR: the synchronous global set/reset. In simulation every register starts at its
// initial value already, so the pulse it would give at power-on has nothing left to do.
module SGSR(input CLK, input GSR);
endmodule
