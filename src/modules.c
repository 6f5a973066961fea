/*
 * modules.c - the table of feature modules.
 *
 * Adding a module: write src/mod_<name>.c defining one
 * `const struct joy_module <name>_module`, declare it below and add it to
 * joy_modules[].  Order here is the order of the modules' fields in every
 * record.  Option keys must be unique across the core and all modules
 * (the unit tests check it).
 */
#include "module.h"

extern const struct joy_module payload_module;

const struct joy_module *const joy_modules[] = {
    &payload_module,
};

const size_t joy_module_count = sizeof joy_modules / sizeof joy_modules[0];
