/* unit_main.c - runs every unit test group; last line "N passed, N failed". */
#include "unit.h"

int unit_failures_in_test;
int unit_passed, unit_failed;

int main(void)
{
    run_jsonw_tests();
    run_decode_tests();
    run_flow_tests();
    run_config_tests();
    run_capfile_tests();
    run_addr_scrub_tests();
    run_module_tests();
    run_sink_tests();
    run_source_tests();
    run_addr_tests();
    run_ja4_tests();
    run_modpool_tests();
    run_sct_tests();
    run_x509_shared_tests();
    run_sockproc_tests();
    printf("unit: %d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}
