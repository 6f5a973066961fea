/*
 * meter.h - the metering engine behind struct joy_meter (joy.h).
 *
 * A meter owns one flow table, its flows' module states, the modules'
 * scratch and a JSON writer; it reads the shared, read-only context it was
 * made from (context.h) and holds no global state, so meters on different
 * threads never touch the same memory.  Records leave through the
 * caller's joy_record_fn, one complete JSON line (and its view) per call.
 *
 * Time is packet time: the meter's clock is the newest packet timestamp it
 * has seen; joy_meter_advance() moves it on without a packet (live capture
 * with idle links).
 *
 * The public functions (joy_meter_new, _packet, _advance, _flush,
 * _get_stats, _free) are declared in joy.h; this header adds what the
 * engine's own users need.
 */
#ifndef JOY_METER_H
#define JOY_METER_H

#include "joy/joy.h"

#include "flow.h"

/* joy_meter_flush() with another expire reason. */
void meter_flush_why(struct joy_meter *m, enum expire_type why);

#endif
