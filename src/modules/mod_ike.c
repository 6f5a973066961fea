/*
 * \summary: IKE module - IKEv1 (RFC 2408/2409) and IKEv2 (RFC 7296) messages
 *
 * Header (28 bytes, both versions):
 *   initiator SPI(8) responder SPI(8) next payload(1) major|minor(1)
 *   exchange type(1) flags(1) message id(4) length(4)
 * then a chain of payloads, each: next payload(1) critical|reserved(1)
 * length(2) body.  On UDP 4500 (RFC 3948) IKE messages start with the
 * 4-byte non-ESP marker (zero); other datagrams there are ESP (skipped) or
 * NAT keepalives (one 0xff byte, skipped).
 *
 * ike=1.  A UDP flow is IKE when either port is 500 or 4500, or when its
 * first datagram has a consistent IKE header (version 1.x or 2.x, length
 * equal to the datagram, known exchange and payload types).  At packet
 * time only the header and the payloads up to the first encrypted one are
 * kept (at most IKE_MAX_MSG_BYTES per message, IKE_MAX_MSGS messages and
 * IKE_MAX_BYTES bytes per flow, appmsg.h); encrypted bodies are never
 * copied.  When the record is written:
 *   "ike": {"init": {"messages": [...]}, "resp": {"messages": [...]}}
 * "init" holds the messages sent by the flow's client (sa), "resp" those
 * of the server: the direction comes from the core, not from the IKE
 * initiator flag.  "ike_omitted": N counts messages beyond the caps.
 * doc/modules/ike.md lists every field.
 */
#include "anon.h"
#include "appmsg.h"
#include "cursor.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IKE_MAX_MSGS 32
#define IKE_MAX_BYTES (32u * 1024)
#define IKE_MAX_MSG_BYTES 8192u
#define IKE_HDR_LEN 28

struct ike_cfg {
    bool on;
};

static const struct joy_option ike_options[] = {
    {"ike", OPT_BOOL, offsetof(struct ike_cfg, on), 0, 1, "0", "0|1",
     "IKEv1/IKEv2 messages (UDP 500, 4500): header and payloads up to the first encrypted one"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

struct ike_state {
    struct appmsg_store *store;
};


/* ---------------------------------------------------------------------
 * names (IANA "Internet Key Exchange (IKE) Attributes", "Internet Key
 * Exchange Version 2 (IKEv2) Parameters" and "ISAKMP" registries),
 * lower case with '_'
 */
struct ike_name {
    uint16_t v;
    const char *n;
};

#define NAMES(t) t, sizeof t / sizeof t[0]

static const char *ike_lookup(const struct ike_name *t, size_t n, unsigned v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].v == v)
            return t[i].n;
    return NULL;
}

/* The name when the value is in the table, else the number. */
static void put_enum(struct jsonw *w, const struct ike_name *t, size_t n, unsigned v)
{
    const char *s = ike_lookup(t, n, v);
    if (s)
        jw_cstr(w, s);
    else
        jw_uint(w, v);
}

static const struct ike_name exchange_names[] = {
    {0, "none"}, {1, "base"}, {2, "identity_protection"}, {3, "authentication_only"},
    {4, "aggressive"}, {5, "informational"}, {6, "transaction"}, {32, "quick_mode"},
    {33, "new_group_mode"}, {34, "ike_sa_init"}, {35, "ike_auth"}, {36, "create_child_sa"},
    {37, "informational"}, {38, "ike_session_resume"}, {39, "gsa_auth"},
    {40, "gsa_registration"}, {41, "gsa_rekey"}, {43, "ike_intermediate"},
    {44, "ike_followup_kex"},
};

static const struct ike_name payload_names[] = {
    {1, "security_association"}, {2, "proposal"}, {3, "transform"}, {4, "key_exchange"},
    {5, "identification"}, {6, "certificate"}, {7, "certificate_request"}, {8, "hash"},
    {9, "signature"}, {10, "nonce"}, {11, "notify"}, {12, "delete"}, {13, "vendor_id"},
    {14, "attributes"}, {15, "sa_kek"}, {16, "sa_tek"}, {17, "key_download"},
    {18, "sequence_number"}, {19, "proof_of_possession"}, {20, "nat_d"}, {21, "nat_oa"},
    {22, "group_associated_policy"}, {130, "nat_d"}, {131, "nat_oa"},
    {33, "security_association"}, {34, "key_exchange"}, {35, "identification_initiator"},
    {36, "identification_responder"}, {37, "certificate"}, {38, "certificate_request"},
    {39, "authentication"}, {40, "nonce"}, {41, "notify"}, {42, "delete"}, {43, "vendor_id"},
    {44, "traffic_selector_initiator"}, {45, "traffic_selector_responder"}, {46, "encrypted"},
    {47, "configuration"}, {48, "eap"}, {49, "generic_secure_password_method"},
    {50, "group_identification"}, {51, "group_security_association"}, {52, "key_download"},
    {53, "encrypted_fragment"}, {54, "puzzle_solution"},
};

static const struct ike_name proto_v1[] = {
    {0, "reserved"}, {1, "isakmp"}, {2, "ipsec_ah"}, {3, "ipsec_esp"}, {4, "ipcomp"},
    {5, "gigabeam_radio"},
};

static const struct ike_name proto_v2[] = {
    {0, "reserved"}, {1, "ike"}, {2, "ah"}, {3, "esp"}, {4, "fc_esp_header"},
    {5, "fc_ct_authentication"},
};

/* IKEv2 transform types and their transform ids */
static const struct ike_name encr_names[] = {
    {1, "encr_des_iv64"}, {2, "encr_des"}, {3, "encr_3des"}, {4, "encr_rc5"}, {5, "encr_idea"},
    {6, "encr_cast"}, {7, "encr_blowfish"}, {8, "encr_3idea"}, {9, "encr_des_iv32"},
    {11, "encr_null"}, {12, "encr_aes_cbc"}, {13, "encr_aes_ctr"}, {14, "encr_aes_ccm_8"},
    {15, "encr_aes_ccm_12"}, {16, "encr_aes_ccm_16"}, {18, "encr_aes_gcm_8"},
    {19, "encr_aes_gcm_12"}, {20, "encr_aes_gcm_16"}, {21, "encr_null_auth_aes_gmac"},
    {23, "encr_camellia_cbc"}, {24, "encr_camellia_ctr"}, {25, "encr_camellia_ccm_8"},
    {26, "encr_camellia_ccm_12"}, {27, "encr_camellia_ccm_16"}, {28, "encr_chacha20_poly1305"},
    {29, "encr_aes_ccm_8_iiv"}, {30, "encr_aes_gcm_16_iiv"}, {31, "encr_chacha20_poly1305_iiv"},
    {32, "encr_kuznyechik_mgm_ktree"}, {33, "encr_magma_mgm_ktree"},
    {34, "encr_kuznyechik_mgm_mac_ktree"}, {35, "encr_magma_mgm_mac_ktree"},
};

static const struct ike_name prf_names[] = {
    {1, "prf_hmac_md5"}, {2, "prf_hmac_sha1"}, {3, "prf_hmac_tiger"}, {4, "prf_aes128_xcbc"},
    {5, "prf_hmac_sha2_256"}, {6, "prf_hmac_sha2_384"}, {7, "prf_hmac_sha2_512"},
    {8, "prf_aes128_cmac"}, {9, "prf_hmac_streebog_512"},
};

static const struct ike_name integ_names[] = {
    {0, "none"}, {1, "auth_hmac_md5_96"}, {2, "auth_hmac_sha1_96"}, {3, "auth_des_mac"},
    {4, "auth_kpdk_md5"}, {5, "auth_aes_xcbc_96"}, {6, "auth_hmac_md5_128"},
    {7, "auth_hmac_sha1_160"}, {8, "auth_aes_cmac_96"}, {9, "auth_aes_128_gmac"},
    {10, "auth_aes_192_gmac"}, {11, "auth_aes_256_gmac"}, {12, "auth_hmac_sha2_256_128"},
    {13, "auth_hmac_sha2_384_192"}, {14, "auth_hmac_sha2_512_256"},
};

/* Diffie-Hellman groups / key exchange methods (IKEv2 transform type 4,
 * IKEv1 group description) */
static const struct ike_name group_names[] = {
    {0, "none"}, {1, "modp768"}, {2, "modp1024"}, {5, "modp1536"}, {14, "modp2048"},
    {15, "modp3072"}, {16, "modp4096"}, {17, "modp6144"}, {18, "modp8192"}, {19, "ecp256"},
    {20, "ecp384"}, {21, "ecp521"}, {22, "modp1024s160"}, {23, "modp2048s224"},
    {24, "modp2048s256"}, {25, "ecp192"}, {26, "ecp224"}, {27, "ecp224bp"}, {28, "ecp256bp"},
    {29, "ecp384bp"}, {30, "ecp512bp"}, {31, "curve25519"}, {32, "curve448"},
    {33, "gost3410_2012_256"}, {34, "gost3410_2012_512"}, {35, "mlkem512"}, {36, "mlkem768"},
    {37, "mlkem1024"},
};

static const struct ike_name esn_names[] = {{0, "no_esn"}, {1, "esn"}};

static const struct ike_name transform_types[] = {
    {1, "encryption_algorithm"}, {2, "pseudorandom_function"}, {3, "integrity_algorithm"},
    {4, "diffie_hellman_group"}, {5, "extended_sequence_numbers"},
    {6, "additional_key_exchange_1"}, {7, "additional_key_exchange_2"},
    {8, "additional_key_exchange_3"}, {9, "additional_key_exchange_4"},
    {10, "additional_key_exchange_5"}, {11, "additional_key_exchange_6"},
    {12, "additional_key_exchange_7"},
};

/* IKEv1 transform ids per protocol */
static const struct ike_name v1_isakmp_tids[] = {{1, "key_ike"}};
static const struct ike_name v1_ah_tids[] = {
    {2, "ah_md5"}, {3, "ah_sha"}, {4, "ah_des"}, {5, "ah_sha2_256"}, {6, "ah_sha2_384"},
    {7, "ah_sha2_512"}, {8, "ah_ripemd"}, {9, "ah_aes_xcbc_mac"}, {10, "ah_rsa"},
    {11, "ah_aes_128_gmac"}, {12, "ah_aes_192_gmac"}, {13, "ah_aes_256_gmac"},
};
static const struct ike_name v1_esp_tids[] = {
    {1, "esp_des_iv64"}, {2, "esp_des"}, {3, "esp_3des"}, {4, "esp_rc5"}, {5, "esp_idea"},
    {6, "esp_cast"}, {7, "esp_blowfish"}, {8, "esp_3idea"}, {9, "esp_des_iv32"},
    {10, "esp_rc4"}, {11, "esp_null"}, {12, "esp_aes"}, {13, "esp_aes_ctr"},
    {14, "esp_aes_ccm_8"}, {15, "esp_aes_ccm_12"}, {16, "esp_aes_ccm_16"},
    {18, "esp_aes_gcm_8"}, {19, "esp_aes_gcm_12"}, {20, "esp_aes_gcm_16"},
    {21, "esp_seed_cbc"}, {22, "esp_camellia"}, {23, "esp_null_auth_aes_gmac"},
};
static const struct ike_name v1_ipcomp_tids[] = {
    {1, "ipcomp_oui"}, {2, "ipcomp_deflate"}, {3, "ipcomp_lzs"}, {4, "ipcomp_lzjh"},
};

/* IKEv1 phase 1 (ISAKMP) attributes, RFC 2409 appendix A */
static const struct ike_name v1_attr_names[] = {
    {1, "encryption_algorithm"}, {2, "hash_algorithm"}, {3, "authentication_method"},
    {4, "group_description"}, {5, "group_type"}, {6, "group_prime"},
    {7, "group_generator_one"}, {8, "group_generator_two"}, {9, "group_curve_a"},
    {10, "group_curve_b"}, {11, "life_type"}, {12, "life_duration"}, {13, "prf"},
    {14, "key_length"}, {15, "field_size"}, {16, "group_order"},
};
static const struct ike_name v1_encr[] = {
    {1, "des_cbc"}, {2, "idea_cbc"}, {3, "blowfish_cbc"}, {4, "rc5_r16_b64_cbc"},
    {5, "3des_cbc"}, {6, "cast_cbc"}, {7, "aes_cbc"}, {8, "camellia_cbc"},
};
static const struct ike_name v1_hash[] = {
    {1, "md5"}, {2, "sha"}, {3, "tiger"}, {4, "sha2_256"}, {5, "sha2_384"}, {6, "sha2_512"},
};
static const struct ike_name v1_auth[] = {
    {1, "pre_shared_key"}, {2, "dss_signatures"}, {3, "rsa_signatures"},
    {4, "rsa_encryption"}, {5, "revised_rsa_encryption"}, {9, "ecdsa_sha256_p256"},
    {10, "ecdsa_sha384_p384"}, {11, "ecdsa_sha512_p521"}, {64221, "hybrid_init_rsa"},
    {64222, "hybrid_resp_rsa"}, {64223, "hybrid_init_dss"}, {64224, "hybrid_resp_dss"},
    {65001, "xauth_init_pre_shared"}, {65002, "xauth_resp_pre_shared"},
    {65003, "xauth_init_dss"}, {65004, "xauth_resp_dss"}, {65005, "xauth_init_rsa"},
    {65006, "xauth_resp_rsa"}, {65007, "xauth_init_rsa_encryption"},
    {65008, "xauth_resp_rsa_encryption"}, {65009, "xauth_init_rsa_revised_encryption"},
    {65010, "xauth_resp_rsa_revised_encryption"},
};
static const struct ike_name v1_group_type[] = {{1, "modp"}, {2, "ecp"}, {3, "ec2n"}};
static const struct ike_name v1_life_type[] = {{1, "seconds"}, {2, "kilobytes"}};

/* IKEv1 IPsec DOI attributes, RFC 2407 section 4.5 */
static const struct ike_name ipsec_attr_names[] = {
    {1, "sa_life_type"}, {2, "sa_life_duration"}, {3, "group_description"},
    {4, "encapsulation_mode"}, {5, "authentication_algorithm"}, {6, "key_length"},
    {7, "key_rounds"}, {8, "compress_dictionary_size"}, {9, "compress_private_algorithm"},
    {10, "ecn_tunnel"}, {11, "extended_sequence_number"},
};
static const struct ike_name ipsec_encap[] = {
    {1, "tunnel"}, {2, "transport"}, {3, "udp_encapsulated_tunnel"},
    {4, "udp_encapsulated_transport"}, {61443, "udp_encapsulated_tunnel_draft"},
    {61444, "udp_encapsulated_transport_draft"},
};
static const struct ike_name ipsec_auth[] = {
    {1, "hmac_md5"}, {2, "hmac_sha"}, {3, "des_mac"}, {4, "kpdk"}, {5, "hmac_sha2_256"},
    {6, "hmac_sha2_384"}, {7, "hmac_sha2_512"}, {8, "hmac_ripemd"}, {9, "aes_xcbc_mac"},
    {10, "sig_rsa"}, {11, "aes_128_gmac"}, {12, "aes_192_gmac"}, {13, "aes_256_gmac"},
};

static const struct ike_name id_types[] = {
    {1, "ipv4_addr"}, {2, "fqdn"}, {3, "user_fqdn"}, {4, "ipv4_addr_subnet"}, {5, "ipv6_addr"},
    {6, "ipv6_addr_subnet"}, {7, "ipv4_addr_range"}, {8, "ipv6_addr_range"},
    {9, "der_asn1_dn"}, {10, "der_asn1_gn"}, {11, "key_id"}, {12, "list"}, {13, "null"},
};

static const struct ike_name cert_encodings[] = {
    {1, "pkcs7_wrapped_x509"}, {2, "pgp"}, {3, "dns_signed_key"}, {4, "x509_signature"},
    {5, "x509_key_exchange"}, {6, "kerberos_token"}, {7, "crl"}, {8, "arl"}, {9, "spki"},
    {10, "x509_attribute"}, {11, "raw_rsa_key"}, {12, "hash_and_url_x509"},
    {13, "hash_and_url_bundle"}, {14, "ocsp_content"}, {15, "raw_public_key"},
};

static const struct ike_name notify_names[] = {
    /* IKEv1 (RFC 2408 3.14.1, RFC 2407 4.6.3, RFC 3706) */
    {1, "invalid_payload_type"}, {2, "doi_not_supported"}, {3, "situation_not_supported"},
    {4, "invalid_cookie"}, {5, "invalid_major_version"}, {6, "invalid_minor_version"},
    {7, "invalid_exchange_type"}, {8, "invalid_flags"}, {9, "invalid_message_id"},
    {10, "invalid_protocol_id"}, {11, "invalid_spi"}, {12, "invalid_transform_id"},
    {13, "attributes_not_supported"}, {14, "no_proposal_chosen"}, {15, "bad_proposal_syntax"},
    {16, "payload_malformed"}, {17, "invalid_key_information"}, {18, "invalid_id_information"},
    {19, "invalid_cert_encoding"}, {20, "invalid_certificate"}, {21, "cert_type_unsupported"},
    {22, "invalid_cert_authority"}, {23, "invalid_hash_information"},
    {24, "authentication_failed"}, {25, "invalid_signature"}, {26, "address_notification"},
    {27, "notify_sa_lifetime"}, {28, "certificate_unavailable"},
    {29, "unsupported_exchange_type"}, {30, "unequal_payload_lengths"},
    {24576, "responder_lifetime"}, {24577, "replay_status"}, {24578, "initial_contact"},
    {36136, "r_u_there"}, {36137, "r_u_there_ack"},
    /* IKEv2 (RFC 7296 3.10.1 and later) */
    {34, "single_pair_required"}, {35, "no_additional_sas"}, {36, "internal_address_failure"},
    {37, "failed_cp_required"}, {38, "ts_unacceptable"}, {39, "invalid_selectors"},
    {40, "unacceptable_addresses"}, {41, "unexpected_nat_detected"}, {42, "use_assigned_hoa"},
    {43, "temporary_failure"}, {44, "child_sa_not_found"}, {45, "invalid_group_id"},
    {46, "authorization_failed"}, {47, "state_not_found"},
    {16384, "initial_contact"}, {16385, "set_window_size"}, {16386, "additional_ts_possible"},
    {16387, "ipcomp_supported"}, {16388, "nat_detection_source_ip"},
    {16389, "nat_detection_destination_ip"}, {16390, "cookie"}, {16391, "use_transport_mode"},
    {16392, "http_cert_lookup_supported"}, {16393, "rekey_sa"},
    {16394, "esp_tfc_padding_not_supported"}, {16395, "non_first_fragments_also"},
    {16396, "mobike_supported"}, {16397, "additional_ip4_address"},
    {16398, "additional_ip6_address"}, {16399, "no_additional_addresses"},
    {16400, "update_sa_addresses"}, {16401, "cookie2"}, {16402, "no_nats_allowed"},
    {16403, "auth_lifetime"}, {16404, "multiple_auth_supported"},
    {16405, "another_auth_follows"}, {16406, "redirect_supported"}, {16407, "redirect"},
    {16408, "redirected_from"}, {16409, "ticket_lt_opaque"}, {16410, "ticket_request"},
    {16411, "ticket_ack"}, {16412, "ticket_nack"}, {16413, "ticket_opaque"},
    {16414, "link_id"}, {16415, "use_wesp_mode"}, {16416, "rohc_supported"},
    {16417, "eap_only_authentication"}, {16418, "childless_ikev2_supported"},
    {16419, "quick_crash_detection"}, {16420, "ikev2_message_id_sync_supported"},
    {16421, "ipsec_replay_counter_sync_supported"}, {16422, "ikev2_message_id_sync"},
    {16423, "ipsec_replay_counter_sync"}, {16424, "secure_password_methods"},
    {16425, "psk_persist"}, {16426, "psk_confirm"}, {16427, "erx_supported"},
    {16428, "ifom_capability"}, {16429, "sender_request_id"},
    {16430, "ikev2_fragmentation_supported"}, {16431, "signature_hash_algorithms"},
    {16432, "clone_ike_sa_supported"}, {16433, "clone_ike_sa"}, {16434, "puzzle"},
    {16435, "use_ppk"}, {16436, "ppk_identity"}, {16437, "no_ppk_auth"},
    {16438, "intermediate_exchange_supported"}, {16439, "ip4_allowed"},
    {16440, "ip6_allowed"}, {16441, "additional_key_exchange"}, {16442, "use_aggfrag"},
};

/* Well-known vendor IDs: a VID matches an entry when it starts with the
 * entry's bytes (several carry a version or flags after a fixed part).
 * Every entry is recognised by tshark too (test/test_dns_dhcp_ike.py). */
struct ike_vid {
    const char *name;
    uint8_t len;
    uint8_t b[20];
};

static const struct ike_vid vid_table[] = {
    {"RFC 3947 NAT-T", 16, {0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28,
                            0xf2, 0x0e, 0x95, 0x45, 0x2f}},
    {"draft-ietf-ipsec-nat-t-ike-00", 16, {0x44, 0x85, 0x15, 0x2d, 0x18, 0xb6, 0xbb, 0xcd, 0x0b,
                                           0xe8, 0xa8, 0x46, 0x95, 0x79, 0xdd, 0xcc}},
    {"draft-ietf-ipsec-nat-t-ike-01", 16, {0x16, 0xf6, 0xca, 0x16, 0xe4, 0xa4, 0x06, 0x6d, 0x83,
                                           0x82, 0x1a, 0x0f, 0x0a, 0xea, 0xa8, 0x62}},
    {"draft-ietf-ipsec-nat-t-ike-02", 16, {0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c,
                                           0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48}},
    {"draft-ietf-ipsec-nat-t-ike-02\\n", 16, {0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e,
                                              0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f}},
    {"draft-ietf-ipsec-nat-t-ike-03", 16, {0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c,
                                           0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56}},
    {"draft-ietf-ipsec-nat-t-ike-04", 16, {0x99, 0x09, 0xb6, 0x4e, 0xed, 0x93, 0x7c, 0x65, 0x73,
                                           0xde, 0x52, 0xac, 0xe9, 0x52, 0xfa, 0x6b}},
    {"draft-ietf-ipsec-nat-t-ike-05", 16, {0x80, 0xd0, 0xbb, 0x3d, 0xef, 0x54, 0x56, 0x5e, 0xe8,
                                           0x46, 0x45, 0xd4, 0xc8, 0x5c, 0xe3, 0xee}},
    {"draft-ietf-ipsec-nat-t-ike-06", 16, {0x4d, 0x1e, 0x0e, 0x13, 0x6d, 0xea, 0xfa, 0x34, 0xc4,
                                           0xf3, 0xea, 0x9f, 0x02, 0xec, 0x72, 0x85}},
    {"draft-ietf-ipsec-nat-t-ike-07", 16, {0x43, 0x9b, 0x59, 0xf8, 0xba, 0x67, 0x6c, 0x4c, 0x77,
                                           0x37, 0xae, 0x22, 0xea, 0xb8, 0xf5, 0x82}},
    {"draft-ietf-ipsec-nat-t-ike-08", 16, {0x8f, 0x8d, 0x83, 0x82, 0x6d, 0x24, 0x6b, 0x6f, 0xc7,
                                           0xa8, 0xa6, 0xa4, 0x28, 0xc1, 0x1d, 0xe8}},
    {"draft-ietf-ipsec-nat-t-ike-09", 16, {0x42, 0xea, 0x5b, 0x6f, 0x89, 0x8d, 0x97, 0x73, 0xa5,
                                           0x75, 0xdf, 0x26, 0xe7, 0xdd, 0x19, 0xe1}},
    {"RFC 3706 DPD", 14, {0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc,
                          0x77, 0x57}},
    {"XAUTH", 8, {0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12}},
    {"Cisco Unity", 14, {0x12, 0xf5, 0xf2, 0x8c, 0x45, 0x71, 0x68, 0xa9, 0x70, 0x2d, 0x9f, 0xe2,
                         0x74, 0xcc}},
    {"strongSwan", 16, {0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x51, 0x61, 0x3b,
                        0x2e, 0xbe, 0x5b, 0xeb}},
    {"IKE Fragmentation", 16, {0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde,
                               0x7f, 0x00, 0xd6, 0xc2, 0xd3}},
    {"MS NT5 ISAKMPOAKLEY", 16, {0x1e, 0x2b, 0x51, 0x69, 0x05, 0x99, 0x1c, 0x7d, 0x7c, 0x96,
                                 0xfc, 0xbf, 0xb5, 0x87, 0xe4, 0x61}},
    {"MS-Negotiation Discovery Capable", 16, {0xfb, 0x1d, 0xe3, 0xcd, 0xf3, 0x41, 0xb7, 0xea,
                                              0x16, 0xb7, 0xe5, 0xbe, 0x08, 0x55, 0xf1, 0x20}},
    {"Vid-Initial-Contact", 16, {0x26, 0x24, 0x4d, 0x38, 0xed, 0xdb, 0x61, 0xb3, 0x17, 0x2a,
                                 0x36, 0xe3, 0xd0, 0xcf, 0xb8, 0x19}},
    {"KAME/racoon", 16, {0x70, 0x03, 0xcb, 0xc1, 0x09, 0x7d, 0xbe, 0x9c, 0x26, 0x00, 0xba, 0x69,
                         0x83, 0xbc, 0x8b, 0x35}},
    {"IPSec-Tools", 16, {0x20, 0xa3, 0x62, 0x2c, 0x1c, 0xea, 0x7c, 0xe3, 0x7b, 0xee, 0x3c, 0xa4,
                         0x84, 0x42, 0x52, 0x76}},
    {"Heartbeat Notify", 16, {'H', 'e', 'a', 'r', 't', 'B', 'e', 'a', 't', '_', 'N', 'o', 't',
                              'i', 'f', 'y'}},
};

static const char *vid_name(const uint8_t *v, size_t n)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof vid_table / sizeof vid_table[0]; i++) {
        const struct ike_vid *e = &vid_table[i];
        if (n >= e->len && e->len > best_len && memcmp(v, e->b, e->len) == 0) {
            best = e->name;
            best_len = e->len;
        }
    }
    return best;
}

/* ---------------------------------------------------------------------
 * payloads
 */
struct ike_ctx {
    struct jsonw *w;
    bool hide_raw; /* anon_active(): opaque address bytes as null (anon.h) */
};

static void put_addr(struct ike_ctx *x, const uint8_t *p, int ver)
{
    struct ipaddr a;
    char buf[48];
    memset(&a, 0, sizeof a);
    memcpy(a.b, p, ver == 4 ? 4 : 16);
    jw_cstr(x->w, ipaddr_str(&a, ver, buf, sizeof buf));
}

/* Value names for an attribute, by phase 1 (ISAKMP) or IPsec DOI. */
static void attr_value_table(bool isakmp, unsigned type, const struct ike_name **t, size_t *n)
{
    *t = NULL;
    *n = 0;
    if (isakmp) {
        switch (type) {
        case 1: *t = v1_encr; *n = sizeof v1_encr / sizeof v1_encr[0]; break;
        case 2: case 13: *t = v1_hash; *n = sizeof v1_hash / sizeof v1_hash[0]; break;
        case 3: *t = v1_auth; *n = sizeof v1_auth / sizeof v1_auth[0]; break;
        case 4: *t = group_names; *n = sizeof group_names / sizeof group_names[0]; break;
        case 5: *t = v1_group_type; *n = sizeof v1_group_type / sizeof v1_group_type[0]; break;
        case 11: *t = v1_life_type; *n = sizeof v1_life_type / sizeof v1_life_type[0]; break;
        }
    } else {
        switch (type) {
        case 1: *t = v1_life_type; *n = sizeof v1_life_type / sizeof v1_life_type[0]; break;
        case 3: *t = group_names; *n = sizeof group_names / sizeof group_names[0]; break;
        case 4: *t = ipsec_encap; *n = sizeof ipsec_encap / sizeof ipsec_encap[0]; break;
        case 5: *t = ipsec_auth; *n = sizeof ipsec_auth / sizeof ipsec_auth[0]; break;
        }
    }
}

/*
 * Data attributes (RFC 2408 3.3 / RFC 7296 3.3.5): AF bit + type, then a
 * 2-byte value (TV) or a length and that many bytes (TLV).  kind 0: IKEv1
 * ISAKMP, 1: IKEv1 IPsec DOI, 2: IKEv2.  Returns false if they do not fit.
 */
static bool write_attributes(struct ike_ctx *x, struct cursor *c, int kind)
{
    struct jsonw *w = x->w;
    jw_key(w, "attributes");
    jw_arr_open(w);
    while (cur_left(c)) {
        uint16_t t = cur_u16(c);
        bool tv = t & 0x8000;
        t &= 0x7fff;
        uint32_t vlen = tv ? 2 : cur_u16(c);
        const uint8_t *v = cur_bytes(c, vlen);
        if (!cur_ok(c)) {
            jw_close(w);
            return false;
        }
        const char *name = kind == 2 ? (t == 14 ? "key_length" : NULL)
                         : ike_lookup(kind == 0 ? v1_attr_names : ipsec_attr_names,
                                      kind == 0 ? sizeof v1_attr_names / sizeof v1_attr_names[0]
                                                : sizeof ipsec_attr_names /
                                                      sizeof ipsec_attr_names[0],
                                      t);
        jw_obj_open(w);
        if (!name) {
            jw_kv_uint(w, "type", t);
            jw_key(w, "value");
        } else {
            jw_key(w, name);
        }
        const struct ike_name *vt;
        size_t vn;
        attr_value_table(kind == 0, kind == 2 ? 0 : t, &vt, &vn);
        if (vlen <= 4) {
            uint32_t val = 0;
            for (uint32_t i = 0; i < vlen; i++)
                val = (val << 8) | v[i];
            if (vt)
                put_enum(w, vt, vn, val);
            else
                jw_uint(w, val);
        } else {
            jw_hex(w, v, vlen);
        }
        jw_close(w);
    }
    jw_close(w);
    return true;
}

/* Proposals and transforms of an SA payload; false if they do not fit. */
static bool write_proposals(struct ike_ctx *x, struct cursor *c, bool v2)
{
    struct jsonw *w = x->w;
    bool ok = true;
    jw_key(w, "proposals");
    jw_arr_open(w);
    while (ok && cur_left(c)) {
        cur_skip(c, 2); /* last substructure / next payload, reserved */
        uint16_t plen = cur_u16(c);
        if (!cur_ok(c) || plen < 8 || !cur_has(c, plen - 4u)) {
            ok = false;
            break;
        }
        struct cursor p = cur_sub(c, plen - 4u);
        uint8_t num = cur_u8(&p), proto = cur_u8(&p), spi_size = cur_u8(&p);
        uint8_t ntrans = cur_u8(&p);
        const uint8_t *spi = cur_bytes(&p, spi_size);
        if (!cur_ok(&p)) {
            ok = false;
            break;
        }
        jw_obj_open(w);
        jw_kv_uint(w, "num", num);
        jw_key(w, "protocol_id");
        if (v2)
            put_enum(w, NAMES(proto_v2), proto);
        else
            put_enum(w, NAMES(proto_v1), proto);
        if (spi_size)
            jw_kv_hex(w, "spi", spi, spi_size);
        if (ntrans)
            jw_kv_uint(w, "num_transforms", ntrans);
        jw_key(w, "transforms");
        jw_arr_open(w);
        while (ok && cur_left(&p)) {
            cur_skip(&p, 2);
            uint16_t tlen = cur_u16(&p);
            if (!cur_ok(&p) || tlen < 8 || !cur_has(&p, tlen - 4u)) {
                ok = false;
                break;
            }
            struct cursor t = cur_sub(&p, tlen - 4u);
            jw_obj_open(w);
            if (v2) {
                uint8_t type = cur_u8(&t);
                cur_skip(&t, 1);
                uint16_t id = cur_u16(&t);
                const char *tn = ike_lookup(NAMES(transform_types), type);
                if (tn) {
                    jw_key(w, tn);
                    switch (type) {
                    case 1: put_enum(w, NAMES(encr_names), id); break;
                    case 2: put_enum(w, NAMES(prf_names), id); break;
                    case 3: put_enum(w, NAMES(integ_names), id); break;
                    case 5: put_enum(w, NAMES(esn_names), id); break;
                    default: put_enum(w, NAMES(group_names), id); break;
                    }
                } else {
                    jw_kv_uint(w, "transform_type", type);
                    jw_kv_uint(w, "transform_id", id);
                }
                if (cur_left(&t))
                    ok = write_attributes(x, &t, 2);
            } else {
                uint8_t tnum = cur_u8(&t), id = cur_u8(&t);
                cur_skip(&t, 2);
                jw_kv_uint(w, "num", tnum);
                jw_key(w, "transform_id");
                switch (proto) {
                case 1: put_enum(w, NAMES(v1_isakmp_tids), id); break;
                case 2: put_enum(w, NAMES(v1_ah_tids), id); break;
                case 3: put_enum(w, NAMES(v1_esp_tids), id); break;
                case 4: put_enum(w, NAMES(v1_ipcomp_tids), id); break;
                default: jw_uint(w, id); break;
                }
                if (cur_left(&t))
                    ok = write_attributes(x, &t, proto == 1 ? 0 : 1);
            }
            jw_close(w);
        }
        jw_close(w); /* transforms */
        jw_close(w); /* proposal */
    }
    jw_close(w);
    return ok;
}

/* ID payload data by type. */
static void write_id_data(struct ike_ctx *x, uint8_t type, const uint8_t *d, size_t n)
{
    struct jsonw *w = x->w;
    jw_key(w, "data");
    switch (type) {
    case 1:
        if (n == 4) {
            put_addr(x, d, 4);
            return;
        }
        break;
    case 5:
        if (n == 16) {
            put_addr(x, d, 6);
            return;
        }
        break;
    case 2: case 3:
        jw_str(w, d, n);
        return;
    case 4: case 7: /* address and mask / first and last address */
        if (n == 8) {
            jw_arr_open(w);
            put_addr(x, d, 4);
            put_addr(x, d + 4, 4);
            jw_close(w);
            return;
        }
        break;
    case 6: case 8:
        if (n == 32) {
            jw_arr_open(w);
            put_addr(x, d, 6);
            put_addr(x, d + 16, 6);
            jw_close(w);
            return;
        }
        break;
    }
    jw_hex(w, d, n);
}

/*
 * One payload body.  Returns NULL, or why it does not match its type (then
 * the payload is written as {"<name>": {"data": hex}}).
 */
static const char *write_payload(struct ike_ctx *x, uint8_t type, const uint8_t *b, size_t n)
{
    struct jsonw *w = x->w;
    struct cursor c;
    cur_init(&c, b, n);
    const char *name = ike_lookup(NAMES(payload_names), type);
    jw_obj_open(w);
    if (!name) {
        jw_key(w, "unknown");
        jw_obj_open(w);
        jw_kv_uint(w, "type", type);
        jw_kv_hex(w, "data", b, n);
        jw_close(w);
        jw_close(w);
        return NULL;
    }
    jw_key(w, name);
    struct jw_mark m = jw_mark(w);
    const char *bad = NULL;
    switch (type) {
    case 1: case 33: /* SA */
        jw_obj_open(w);
        if (type == 1) {
            uint32_t doi = cur_u32(&c);
            jw_kv_uint(w, "doi", doi);
            if (doi == 1) /* IPsec DOI: a 4-byte situation */
                jw_kv_uint(w, "situation", cur_u32(&c));
            if (!cur_ok(&c)) {
                bad = "sa";
                break;
            }
            if (doi != 1) {
                jw_kv_hex(w, "data", c.p, cur_left(&c));
                jw_close(w);
                break;
            }
        }
        if (!write_proposals(x, &c, type == 33))
            bad = "proposal";
        else
            jw_close(w);
        break;
    case 4: /* KE (IKEv1): the group is in the SA */
        jw_obj_open(w);
        jw_kv_hex(w, "data", b, n);
        jw_close(w);
        break;
    case 34: { /* KE (IKEv2): group, reserved, data */
        uint16_t group = cur_u16(&c);
        cur_skip(&c, 2);
        if (!cur_ok(&c)) {
            bad = "key_exchange";
            break;
        }
        jw_obj_open(w);
        jw_key(w, "group");
        put_enum(w, NAMES(group_names), group);
        jw_kv_hex(w, "data", c.p, cur_left(&c));
        jw_close(w);
        break;
    }
    case 5: case 35: case 36: { /* ID */
        uint8_t idt = cur_u8(&c), proto = cur_u8(&c);
        uint16_t port = cur_u16(&c);
        if (!cur_ok(&c)) {
            bad = "identification";
            break;
        }
        jw_obj_open(w);
        jw_key(w, "id_type");
        put_enum(w, NAMES(id_types), idt);
        if (type == 5) {
            jw_kv_uint(w, "protocol_id", proto);
            jw_kv_uint(w, "port", port);
        }
        write_id_data(x, idt, c.p, cur_left(&c));
        jw_close(w);
        break;
    }
    case 6: case 7: case 37: case 38: { /* CERT, CERTREQ */
        uint8_t enc = cur_u8(&c);
        if (!cur_ok(&c)) {
            bad = "certificate";
            break;
        }
        jw_obj_open(w);
        jw_key(w, "encoding");
        put_enum(w, NAMES(cert_encodings), enc);
        jw_kv_hex(w, "data", c.p, cur_left(&c));
        jw_close(w);
        break;
    }
    case 8: case 9: case 10: case 40: case 20: case 130: /* HASH, SIG, NONCE, NAT-D */
        jw_hex(w, b, n);
        break;
    case 11: case 41: { /* NOTIFY */
        uint32_t doi = type == 11 ? cur_u32(&c) : 0;
        uint8_t proto = cur_u8(&c), spi_size = cur_u8(&c);
        uint16_t ntype = cur_u16(&c);
        const uint8_t *spi = cur_bytes(&c, spi_size);
        if (!cur_ok(&c)) {
            bad = "notify";
            break;
        }
        jw_obj_open(w);
        if (type == 11)
            jw_kv_uint(w, "doi", doi);
        jw_key(w, "protocol_id");
        if (type == 11)
            put_enum(w, NAMES(proto_v1), proto);
        else
            put_enum(w, NAMES(proto_v2), proto);
        jw_key(w, "type");
        put_enum(w, NAMES(notify_names), ntype);
        if (spi_size)
            jw_kv_hex(w, "spi", spi, spi_size);
        if (cur_left(&c))
            jw_kv_hex(w, "data", c.p, cur_left(&c));
        jw_close(w);
        break;
    }
    case 12: case 42: { /* DELETE */
        uint32_t doi = type == 12 ? cur_u32(&c) : 0;
        uint8_t proto = cur_u8(&c), spi_size = cur_u8(&c);
        uint16_t nspi = cur_u16(&c);
        if (!cur_ok(&c) || (size_t)spi_size * nspi != cur_left(&c)) {
            bad = "delete";
            break;
        }
        jw_obj_open(w);
        if (type == 12)
            jw_kv_uint(w, "doi", doi);
        jw_key(w, "protocol_id");
        if (type == 12)
            put_enum(w, NAMES(proto_v1), proto);
        else
            put_enum(w, NAMES(proto_v2), proto);
        jw_kv_uint(w, "spi_size", spi_size);
        jw_key(w, "spis");
        jw_arr_open(w);
        for (uint16_t i = 0; i < nspi && spi_size; i++)
            jw_hex(w, cur_bytes(&c, spi_size), spi_size);
        jw_close(w);
        jw_close(w);
        break;
    }
    case 13: case 43: { /* VID */
        const char *vn = vid_name(b, n);
        jw_obj_open(w);
        if (vn)
            jw_kv_cstr(w, "name", vn);
        jw_kv_hex(w, "data", b, n);
        jw_close(w);
        break;
    }
    case 39: { /* AUTH */
        uint8_t method = cur_u8(&c);
        cur_skip(&c, 3);
        if (!cur_ok(&c)) {
            bad = "authentication";
            break;
        }
        jw_obj_open(w);
        jw_kv_uint(w, "method", method);
        jw_kv_hex(w, "data", c.p, cur_left(&c));
        jw_close(w);
        break;
    }
    case 21: case 131: /* NAT-OA: an address */
        jw_obj_open(w);
        jw_key(w, "data");
        if (x->hide_raw)
            jw_null(w);
        else
            jw_hex(w, b, n);
        jw_close(w);
        break;
    default:
        jw_obj_open(w);
        jw_kv_hex(w, "data", b, n);
        jw_close(w);
        break;
    }
    if (bad) {
        jw_rollback(w, m);
        jw_obj_open(w);
        jw_kv_hex(w, "data", b, n);
        jw_kv_cstr(w, "malformed", bad);
        jw_close(w);
    }
    jw_close(w);
    return bad;
}

static void write_flags(struct jsonw *w, uint8_t major, uint8_t flags)
{
    static const char hexd[] = "0123456789abcdef";
    char hx[3] = {hexd[flags >> 4], hexd[flags & 15], 0};
    jw_key(w, "flags");
    jw_obj_open(w);
    jw_kv_cstr(w, "hex", hx);
    jw_key(w, "parsed");
    jw_arr_open(w);
    if (major == 2) {
        jw_cstr(w, flags & 0x08 ? "initiator" : "responder");
        jw_cstr(w, flags & 0x10 ? "higher_version" : "no_higher_version");
        jw_cstr(w, flags & 0x20 ? "response" : "request");
    } else {
        if (flags & 0x01)
            jw_cstr(w, "encryption");
        if (flags & 0x02)
            jw_cstr(w, "commit");
        if (flags & 0x04)
            jw_cstr(w, "authentication_only");
    }
    jw_close(w);
    jw_close(w);
}

/* One message: {"header": {...}, "payloads": [...]} */
static void ike_message_json(struct ike_ctx *x, const uint8_t *m, size_t len, size_t wire_len,
                             const char *cut)
{
    struct jsonw *w = x->w;
    const char *err = NULL;
    struct cursor c;
    cur_init(&c, m, len);
    const uint8_t *ispi = cur_bytes(&c, 8), *rspi = cur_bytes(&c, 8);
    uint8_t next = cur_u8(&c), ver = cur_u8(&c), exch = cur_u8(&c), flags = cur_u8(&c);
    uint8_t major = ver >> 4, minor = ver & 15;
    uint32_t msg_id = cur_u32(&c), length = cur_u32(&c);
    jw_obj_open(w);
    if (!cur_ok(&c)) {
        err = "truncated";
        goto done;
    }
    jw_key(w, "header");
    jw_obj_open(w);
    jw_kv_hex(w, "init_spi", ispi, 8);
    jw_kv_hex(w, "resp_spi", rspi, 8);
    jw_kv_uint(w, "major", major);
    jw_kv_uint(w, "minor", minor);
    jw_key(w, "exchange_type");
    put_enum(w, NAMES(exchange_names), exch);
    write_flags(w, major, flags);
    jw_kv_uint(w, "message_id", msg_id);
    jw_kv_uint(w, "length", length);
    jw_close(w);

    jw_key(w, "payloads");
    jw_arr_open(w);
    if (major == 1 && (flags & 0x01) && next) {
        /* IKEv1: everything after the header is encrypted */
        jw_obj_open(w);
        jw_key(w, "encrypted");
        jw_obj_open(w);
        jw_kv_uint(w, "length", length > IKE_HDR_LEN ? length - IKE_HDR_LEN : 0);
        jw_close(w);
        jw_close(w);
        next = 0;
    }
    while (next) {
        struct cursor g = c; /* the generic payload header, and what follows */
        uint8_t nn = cur_u8(&g);
        cur_skip(&g, 1); /* critical bit, reserved */
        uint16_t plen = cur_u16(&g);
        if (!cur_ok(&g)) {
            err = "truncated";
            break;
        }
        if (plen < 4) {
            err = "payload_length";
            break;
        }
        if (next == 46 || next == 53) { /* SK / SKF: the rest is encrypted */
            jw_obj_open(w);
            jw_key(w, next == 46 ? "encrypted" : "encrypted_fragment");
            jw_obj_open(w);
            if (next == 53 && cur_left(&g) >= 4) {
                jw_kv_uint(w, "number", cur_u16(&g));
                jw_kv_uint(w, "total", cur_u16(&g));
            }
            jw_kv_uint(w, "next_payload", nn);
            jw_kv_uint(w, "length", plen);
            jw_close(w);
            jw_close(w);
            break;
        }
        cur_skip(&c, 4);
        const uint8_t *body = cur_bytes(&c, plen - 4u);
        if (!body) {
            err = "truncated";
            break;
        }
        write_payload(x, next, body, plen - 4u);
        next = nn;
    }
    jw_close(w);
done:
    if (cut && len < wire_len) {
        jw_kv_cstr(w, "truncated", cut);
        jw_kv_uint(w, "len", wire_len);
        if (err && strcmp(err, "truncated") == 0)
            err = NULL;
    }
    if (err)
        jw_kv_cstr(w, "malformed", err);
    jw_close(w);
}

/* ---------------------------------------------------------------------
 * the module
 */
static void ike_free(void *state)
{
    struct ike_state *s = state;
    if (!s)
        return;
    appmsg_free(s->store);
    free(s);
}

/* Bytes worth keeping: the header and the payloads up to and including
 * the generic header of the first encrypted one. */
static uint32_t ike_keep_len(const uint8_t *p, uint32_t n)
{
    struct cursor c;
    cur_init(&c, p, n);
    cur_skip(&c, 16); /* SPIs */
    uint8_t next = cur_u8(&c), major = cur_u8(&c) >> 4;
    cur_skip(&c, 1); /* exchange type */
    uint8_t flags = cur_u8(&c);
    cur_skip(&c, 8); /* message id, length */
    if (!cur_ok(&c))
        return n;
    if (major == 1 && (flags & 0x01))
        return IKE_HDR_LEN;
    while (next && cur_left(&c) >= 4) {
        uint32_t off = (uint32_t)cur_offset(&c, p);
        if (next == 46)
            return off + 4;
        if (next == 53)
            return cur_left(&c) >= 8 ? off + 8 : n;
        uint8_t nn = cur_u8(&c);
        cur_skip(&c, 1);
        uint16_t plen = cur_u16(&c);
        if (plen < 4)
            return n;
        cur_skip(&c, plen - 4u);
        if (!cur_ok(&c))
            return n;
        next = nn;
    }
    return n;
}

/* A plausible IKE header that fills the datagram (for other ports). */
static bool ike_looks_like(const uint8_t *p, uint32_t n)
{
    struct cursor c;
    cur_init(&c, p, n);
    cur_skip(&c, 16); /* SPIs */
    uint8_t next = cur_u8(&c), ver = cur_u8(&c), exch = cur_u8(&c);
    cur_skip(&c, 5); /* flags, message id */
    if (cur_u32(&c) != n || !cur_ok(&c))
        return false;
    if (ver == 0x10)
        return (next == 1 || next == 8 || next == 11 || next == 12) &&
               ((exch >= 1 && exch <= 6) || exch == 32 || exch == 33);
    if (ver == 0x20)
        return (next == 33 || next == 41 || next == 46 || next == 53) && exch >= 34 && exch <= 44;
    return false;
}

static void ike_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    (void)env;
    (void)f;
    struct ike_state *s = *state;
    if (p->proto != 17 || p->frag == FRAG_LATER || !p->has_ports ||
        !p->payload_cap)
        return;
    const uint8_t *d = p->payload;
    uint32_t cap = p->payload_cap, wire = p->payload_len;
    bool natt = p->sport == 4500 || p->dport == 4500;
    bool hinted = natt || p->sport == 500 || p->dport == 500;
    if (!s) {
        if (!hinted && !ike_looks_like(d, cap)) {
            module_decline(state);
            return;
        }
    }
    uint8_t cut = APPMSG_CUT_CAPTURE;
    if (p->frag == FRAG_FIRST) {
        cut = APPMSG_CUT_FRAGMENT;
        if (p->udp_len >= 8 && p->udp_len - 8u > wire)
            wire = p->udp_len - 8u;
    }
    if (natt) {
        struct cursor c;
        cur_init(&c, d, cap);
        if (wire == 1 && cur_peek(&c, 0) == 0xff)
            return; /* NAT keepalive (RFC 3948 2.3) */
        if (cur_u32(&c) != 0 || !cur_ok(&c))
            return; /* ESP in UDP */
        d += 4;
        cap -= 4;
        wire -= 4;
        if (!cap)
            return; /* a marker and nothing else */
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return;
        s->store = appmsg_new(IKE_MAX_MSGS, IKE_MAX_BYTES);
        if (!s->store) {
            free(s);
            return;
        }
        *state = s;
    }
    uint32_t keep = ike_keep_len(d, cap);
    if (keep > IKE_MAX_MSG_BYTES) {
        keep = IKE_MAX_MSG_BYTES;
        cut = APPMSG_CUT_BUDGET;
    } else if (keep < cap) {
        cut = APPMSG_CUT_BY_MODULE;
    }
    appmsg_add(s->store, dir, d, keep, wire, cut);
}

static void ike_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    const struct ike_state *s = state;
    const struct appmsg_store *st = s->store;
    struct ike_ctx x = {w, anon_active(f)};
    if (st->n) {
        static const char *const side[2] = {"init", "resp"};
        jw_key(w, "ike");
        jw_obj_open(w);
        for (int dir = 0; dir < 2; dir++) {
            bool any = false;
            for (uint32_t i = 0; i < st->n; i++) {
                const struct appmsg *m = &st->msg[i];
                if (m->dir != dir)
                    continue;
                if (!any) {
                    jw_key(w, side[dir]);
                    jw_obj_open(w);
                    jw_key(w, "messages");
                    jw_arr_open(w);
                    any = true;
                }
                const char *cut = m->cut == APPMSG_CUT_BY_MODULE ? NULL : appmsg_cut_name(m->cut);
                ike_message_json(&x, appmsg_bytes(st, m), m->len, m->wire_len, cut);
            }
            if (any) {
                jw_close(w);
                jw_close(w);
            }
        }
        jw_close(w);
    }
    if (st->omitted)
        jw_kv_uint(w, "ike_omitted", st->omitted);
}

const struct joy_module ike_module = {
    .name = "ike",
    .summary = "IKEv1/IKEv2 headers and unencrypted payloads",
    .options = ike_options,
    .config_size = sizeof(struct ike_cfg),
    .interest = MI_UDP,
    .packet = ike_packet,
    .write_json = ike_json,
    .free_state = ike_free,
};
