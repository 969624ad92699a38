"""Numbers of the SLURM 22.05 protocol: message types, return codes and their texts, sentinels, states.

The message-type, return-code and job-reason tables are the facts of SLURM 22.05 (slurm_protocol_defs.h,
slurm_errno.h/.c, slurm.h), listed here as data.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

# Protocol versions: (release number << 8), one per SLURM release (slurm_protocol_common.h).
SLURM_26_05_PROTOCOL_VERSION = 0x2D00
SLURM_25_11_PROTOCOL_VERSION = 0x2C00
SLURM_25_05_PROTOCOL_VERSION = 0x2B00
SLURM_24_11_PROTOCOL_VERSION = 0x2A00
SLURM_24_05_PROTOCOL_VERSION = 0x2900
SLURM_23_11_PROTOCOL_VERSION = 0x2800
SLURM_23_02_PROTOCOL_VERSION = 0x2700
SLURM_22_05_PROTOCOL_VERSION = 0x2600
SLURM_21_08_PROTOCOL_VERSION = 0x2500
SLURM_20_11_PROTOCOL_VERSION = 0x2400
SLURM_MIN_PROTOCOL_VERSION = SLURM_20_11_PROTOCOL_VERSION
# flurm's own version: what it sends where no peer's version is known yet, and the layout of its state
PROTOCOL_VERSION = SLURM_22_05_PROTOCOL_VERSION
SLURM_VERSION_STRING = "22.05.8"

NO_VAL8 = 0xFE
NO_VAL16 = 0xFFFE
NO_VAL = 0xFFFFFFFE
NO_VAL64 = 0xFFFFFFFFFFFFFFFE
NO_CONSUME_VAL64 = NO_VAL64 - 1  # a no_consume GRES's count per node in an allocation (slurm.h)
INFINITE8 = 0xFF
INFINITE16 = 0xFFFF
INFINITE = 0xFFFFFFFF
INFINITE64 = 0xFFFFFFFFFFFFFFFF
NICE_OFFSET = 0x80000000
MEM_PER_CPU = 0x8000000000000000

# Step ids with a meaning of their own
SLURM_PENDING_STEP = 0xFFFFFFFD
SLURM_BATCH_SCRIPT = 0xFFFFFFFB
SLURM_EXTERN_CONT = 0xFFFFFFFC
SLURM_INTERACTIVE_STEP = 0xFFFFFFFA

AUTH_PLUGIN_MUNGE = 101
AUTH_PLUGIN_SLURM = 103  # auth/slurm (from 23.11): a JWT signed with the cluster's slurm.key
SELECT_PLUGIN_CONS_TRES = 109
SWITCH_PLUGIN_NONE = 100

# forward/orig_addr families in the header
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10


class MsgType(IntEnum):
    """slurm_msg_type_t."""

    REQUEST_NODE_REGISTRATION_STATUS = 1001
    MESSAGE_NODE_REGISTRATION_STATUS = 1002
    REQUEST_RECONFIGURE = 1003
    REQUEST_RECONFIGURE_WITH_CONFIG = 1004
    REQUEST_SHUTDOWN = 1005
    REQUEST_RECONFIGURE_SACKD = 1006  # 24.11
    DEFUNCT_RPC_1007 = 1007
    REQUEST_PING = 1008
    REQUEST_CONTROL = 1009
    REQUEST_SET_DEBUG_LEVEL = 1010
    REQUEST_HEALTH_CHECK = 1011
    REQUEST_TAKEOVER = 1012
    REQUEST_SET_SCHEDLOG_LEVEL = 1013
    REQUEST_SET_DEBUG_FLAGS = 1014
    REQUEST_REBOOT_NODES = 1015
    RESPONSE_PING_SLURMD = 1016
    REQUEST_ACCT_GATHER_UPDATE = 1017
    RESPONSE_ACCT_GATHER_UPDATE = 1018
    REQUEST_ACCT_GATHER_ENERGY = 1019
    RESPONSE_ACCT_GATHER_ENERGY = 1020
    REQUEST_LICENSE_INFO = 1021
    RESPONSE_LICENSE_INFO = 1022
    REQUEST_SET_FS_DAMPENING_FACTOR = 1023
    RESPONSE_NODE_REGISTRATION = 1024
    REQUEST_SET_SUSPEND_EXC_NODES = 1025  # 24.11
    REQUEST_SET_SUSPEND_EXC_PARTS = 1026  # 24.11
    REQUEST_SET_SUSPEND_EXC_STATES = 1027  # 24.11
    REQUEST_DBD_RELAY = 1028  # 24.11
    REQUEST_NODE_HEALTH_CHECK = 1029  # 26.05
    PERSIST_RC = 1433
    DBD_MESSAGES_END = 2000
    REQUEST_BUILD_INFO = 2001
    RESPONSE_BUILD_INFO = 2002
    REQUEST_JOB_INFO = 2003
    RESPONSE_JOB_INFO = 2004
    REQUEST_JOB_STEP_INFO = 2005
    RESPONSE_JOB_STEP_INFO = 2006
    REQUEST_NODE_INFO = 2007
    RESPONSE_NODE_INFO = 2008
    REQUEST_PARTITION_INFO = 2009
    RESPONSE_PARTITION_INFO = 2010
    REQUEST_TOPO_CONFIG = 2011  # 26.05
    RESPONSE_TOPO_CONFIG = 2012  # 26.05
    REQUEST_JOB_ID = 2013
    RESPONSE_JOB_ID = 2014
    REQUEST_CONFIG = 2015
    RESPONSE_CONFIG = 2016
    REQUEST_TRIGGER_SET = 2017
    REQUEST_TRIGGER_GET = 2018
    REQUEST_TRIGGER_CLEAR = 2019
    RESPONSE_TRIGGER_GET = 2020
    REQUEST_JOB_INFO_SINGLE = 2021
    REQUEST_SHARE_INFO = 2022
    RESPONSE_SHARE_INFO = 2023
    REQUEST_RESERVATION_INFO = 2024
    RESPONSE_RESERVATION_INFO = 2025
    REQUEST_PRIORITY_FACTORS = 2026
    RESPONSE_PRIORITY_FACTORS = 2027
    REQUEST_TOPO_INFO = 2028
    RESPONSE_TOPO_INFO = 2029
    REQUEST_TRIGGER_PULL = 2030
    REQUEST_FRONT_END_INFO = 2031
    RESPONSE_FRONT_END_INFO = 2032
    DEFUNCT_RPC_2033 = 2033
    DEFUNCT_RPC_2034 = 2034
    REQUEST_STATS_INFO = 2035
    RESPONSE_STATS_INFO = 2036
    REQUEST_BURST_BUFFER_INFO = 2037
    RESPONSE_BURST_BUFFER_INFO = 2038
    REQUEST_JOB_USER_INFO = 2039
    REQUEST_NODE_INFO_SINGLE = 2040
    REQUEST_HOSTLIST_EXPANSION = 2041  # 26.05
    RESPONSE_HOSTLIST_EXPANSION = 2042  # 26.05
    REQUEST_ASSOC_MGR_INFO = 2043
    RESPONSE_ASSOC_MGR_INFO = 2044
    DEFUNCT_RPC_2045 = 2045
    DEFUNCT_RPC_2046 = 2046
    DEFUNCT_RPC_2047 = 2047
    DEFUNCT_RPC_2048 = 2048
    REQUEST_FED_INFO = 2049
    RESPONSE_FED_INFO = 2050
    REQUEST_BATCH_SCRIPT = 2051
    RESPONSE_BATCH_SCRIPT = 2052
    REQUEST_CONTROL_STATUS = 2053
    RESPONSE_CONTROL_STATUS = 2054
    REQUEST_BURST_BUFFER_STATUS = 2055
    RESPONSE_BURST_BUFFER_STATUS = 2056
    REQUEST_JOB_STATE = 2057  # 24.11
    RESPONSE_JOB_STATE = 2058  # 24.11
    REQUEST_CRONTAB = 2200
    RESPONSE_CRONTAB = 2201
    REQUEST_UPDATE_CRONTAB = 2202
    RESPONSE_UPDATE_CRONTAB = 2203
    REQUEST_TLS_CERT = 2300  # 24.11
    RESPONSE_TLS_CERT = 2301  # 24.11
    REQUEST_UPDATE_JOB = 3001
    REQUEST_UPDATE_NODE = 3002
    REQUEST_CREATE_PARTITION = 3003
    REQUEST_DELETE_PARTITION = 3004
    REQUEST_UPDATE_PARTITION = 3005
    REQUEST_CREATE_RESERVATION = 3006
    RESPONSE_CREATE_RESERVATION = 3007
    REQUEST_DELETE_RESERVATION = 3008
    REQUEST_UPDATE_RESERVATION = 3009
    REQUEST_RUN_POWER_ACTION = 3010  # 26.05
    REQUEST_UPDATE_FRONT_END = 3011
    DEFUNCT_RPC_3012 = 3012
    DEFUNCT_RPC_3013 = 3013
    REQUEST_DELETE_NODE = 3014
    REQUEST_CREATE_NODE = 3015
    REQUEST_NODE_ALIAS_ADDRS = 3016  # 24.11
    RESPONSE_NODE_ALIAS_ADDRS = 3017  # 24.11
    REQUEST_RESOURCE_ALLOCATION = 4001
    RESPONSE_RESOURCE_ALLOCATION = 4002
    REQUEST_SUBMIT_BATCH_JOB = 4003
    RESPONSE_SUBMIT_BATCH_JOB = 4004
    REQUEST_BATCH_JOB_LAUNCH = 4005
    REQUEST_CANCEL_JOB = 4006
    REQUEST_RESOURCE_LAYOUT = 4007  # 26.05
    RESPONSE_RESOURCE_LAYOUT = 4008  # 26.05
    DEFUNCT_RPC_4009 = 4009
    DEFUNCT_RPC_4010 = 4010
    DEFUNCT_RPC_4011 = 4011
    REQUEST_JOB_WILL_RUN = 4012
    RESPONSE_JOB_WILL_RUN = 4013
    REQUEST_JOB_ALLOCATION_INFO = 4014
    RESPONSE_JOB_ALLOCATION_INFO = 4015
    DEFUNCT_RPC_4017 = 4016
    DEFUNCT_RPC_4018 = 4017
    DEFUNCT_RPC_4019 = 4018
    REQUEST_JOB_READY = 4019
    RESPONSE_JOB_READY = 4020
    REQUEST_JOB_END_TIME = 4021
    REQUEST_JOB_NOTIFY = 4022
    REQUEST_JOB_SBCAST_CRED = 4023
    RESPONSE_JOB_SBCAST_CRED = 4024
    REQUEST_HET_JOB_ALLOCATION = 4025
    RESPONSE_HET_JOB_ALLOCATION = 4026
    REQUEST_HET_JOB_ALLOC_INFO = 4027
    REQUEST_SUBMIT_BATCH_HET_JOB = 4028
    REQUEST_SBCAST_CRED_NO_JOB = 4029  # 24.11
    REQUEST_CTLD_MULT_MSG = 4500
    RESPONSE_CTLD_MULT_MSG = 4501
    REQUEST_SIB_MSG = 4502
    REQUEST_SIB_JOB_LOCK = 4503
    REQUEST_SIB_JOB_UNLOCK = 4504
    REQUEST_SEND_DEP = 4505
    REQUEST_UPDATE_ORIGIN_DEP = 4506
    REQUEST_JOB_STEP_CREATE = 5001
    RESPONSE_JOB_STEP_CREATE = 5002
    REQUEST_STEPMGR_RESIZE_KILL_STEPS = 5003  # 26.05
    DEFUNCT_RPC_5004 = 5004
    REQUEST_CANCEL_JOB_STEP = 5005
    DEFUNCT_RPC_5006 = 5006
    REQUEST_UPDATE_JOB_STEP = 5007
    REQUEST_STEP_BY_CONTAINER_ID = 5008  # 24.11
    RESPONSE_STEP_BY_CONTAINER_ID = 5009  # 24.11
    DEFUNCT_RPC_5010 = 5010
    DEFUNCT_RPC_5011 = 5011
    DEFUNCT_RPC_5012 = 5012
    DEFUNCT_RPC_5013 = 5013
    REQUEST_SUSPEND = 5014
    DEFUNCT_RPC_5015 = 5015
    REQUEST_STEP_COMPLETE = 5016
    REQUEST_COMPLETE_JOB_ALLOCATION = 5017
    REQUEST_COMPLETE_BATCH_SCRIPT = 5018
    REQUEST_JOB_STEP_STAT = 5019
    RESPONSE_JOB_STEP_STAT = 5020
    REQUEST_STEP_LAYOUT = 5021
    RESPONSE_STEP_LAYOUT = 5022
    REQUEST_JOB_REQUEUE = 5023
    REQUEST_DAEMON_STATUS = 5024
    RESPONSE_SLURMD_STATUS = 5025
    DEFUNCT_RPC_5026 = 5026
    REQUEST_JOB_STEP_PIDS = 5027
    RESPONSE_JOB_STEP_PIDS = 5028
    REQUEST_FORWARD_DATA = 5029
    DEFUNCT_RPC_5030 = 5030
    REQUEST_SUSPEND_INT = 5031
    REQUEST_KILL_JOB = 5032
    DEFUNCT_RPC_5033 = 5033
    RESPONSE_JOB_ARRAY_ERRORS = 5034
    REQUEST_NETWORK_CALLERID = 5035
    RESPONSE_NETWORK_CALLERID = 5036
    DEFUNCT_RPC_5037 = 5037
    REQUEST_TOP_JOB = 5038
    REQUEST_AUTH_TOKEN = 5039
    RESPONSE_AUTH_TOKEN = 5040
    REQUEST_KILL_JOBS = 5041  # 24.11
    RESPONSE_KILL_JOBS = 5042  # 24.11
    REQUEST_STEPS_DRAINED_SUBSCRIBE = 5043  # 26.05
    REQUEST_LAUNCH_TASKS = 6001
    RESPONSE_LAUNCH_TASKS = 6002
    MESSAGE_TASK_EXIT = 6003
    REQUEST_SIGNAL_TASKS = 6004
    REQUEST_JOB_MEM_USAGE = 6005  # 26.05
    REQUEST_TERMINATE_TASKS = 6006
    REQUEST_REATTACH_TASKS = 6007
    RESPONSE_REATTACH_TASKS = 6008
    REQUEST_KILL_TIMELIMIT = 6009
    REQUEST_UPDATE_JOB_MEM = 6010  # 26.05
    REQUEST_TERMINATE_JOB = 6011
    MESSAGE_EPILOG_COMPLETE = 6012
    REQUEST_ABORT_JOB = 6013
    REQUEST_FILE_BCAST = 6014
    RESPONSE_UPDATE_JOB_MEM = 6015  # 26.05
    REQUEST_KILL_PREEMPTED = 6016
    REQUEST_LAUNCH_PROLOG = 6017
    REQUEST_COMPLETE_PROLOG = 6018
    RESPONSE_PROLOG_EXECUTING = 6019
    RESPONSE_JOB_MEM_USAGE = 6020  # 26.05
    REQUEST_PERSIST_INIT = 6500
    REQUEST_PERSIST_INIT_TLS = 6501  # 24.11 (gone in 26.05)
    SRUN_PING = 7001
    SRUN_TIMEOUT = 7002
    SRUN_NODE_FAIL = 7003
    SRUN_JOB_COMPLETE = 7004
    SRUN_USER_MSG = 7005
    DEFUNCT_RPC_7006 = 7006
    SRUN_STEP_MISSING = 7007
    SRUN_REQUEST_SUSPEND = 7008
    SRUN_STEP_SIGNAL = 7009
    SRUN_NET_FORWARD = 7010
    SRUN_STEPS_DRAINED = 7011  # 26.05
    PMI_KVS_PUT_REQ = 7201
    DEFUNCT_RPC_7202 = 7202
    PMI_KVS_GET_REQ = 7203
    PMI_KVS_GET_RESP = 7204
    RESPONSE_SLURM_RC = 8001
    RESPONSE_SLURM_RC_MSG = 8002
    RESPONSE_SLURM_REROUTE_MSG = 8003
    RESPONSE_FORWARD_FAILED = 9001
    ACCOUNTING_UPDATE_MSG = 10001
    ACCOUNTING_FIRST_REG = 10002
    ACCOUNTING_REGISTER_CTLD = 10003
    ACCOUNTING_TRES_CHANGE_DB = 10004
    ACCOUNTING_NODES_CHANGE_DB = 10005
    SLURMSCRIPTD_REQUEST_FLUSH = 11001
    SLURMSCRIPTD_REQUEST_FLUSH_JOB = 11002
    SLURMSCRIPTD_REQUEST_RECONFIG = 11003
    SLURMSCRIPTD_REQUEST_RUN_SCRIPT = 11004
    SLURMSCRIPTD_REQUEST_SCRIPT_COMPLETE = 11005
    SLURMSCRIPTD_REQUEST_UPDATE_DEBUG_FLAGS = 11006
    SLURMSCRIPTD_REQUEST_UPDATE_LOG = 11007
    SLURMSCRIPTD_SHUTDOWN = 11008


class SlurmRC(IntEnum):
    """Return codes (slurm_err_t, plus SLURM_SUCCESS)."""

    SLURM_SUCCESS = 0
    SLURM_ERROR = -1
    SLURM_UNEXPECTED_MSG_ERROR = 1000
    SLURM_COMMUNICATIONS_CONNECTION_ERROR = 1001
    SLURM_COMMUNICATIONS_SEND_ERROR = 1002
    SLURM_COMMUNICATIONS_RECEIVE_ERROR = 1003
    SLURM_COMMUNICATIONS_SHUTDOWN_ERROR = 1004
    SLURM_PROTOCOL_VERSION_ERROR = 1005
    SLURM_PROTOCOL_IO_STREAM_VERSION_ERROR = 1006
    SLURM_PROTOCOL_AUTHENTICATION_ERROR = 1007
    SLURM_PROTOCOL_INSANE_MSG_LENGTH = 1008
    SLURM_MPI_PLUGIN_NAME_INVALID = 1009
    SLURM_MPI_PLUGIN_PRELAUNCH_SETUP_FAILED = 1010
    SLURM_PLUGIN_NAME_INVALID = 1011
    SLURM_UNKNOWN_FORWARD_ADDR = 1012
    SLURM_COMMUNICATIONS_MISSING_SOCKET_ERROR = 1013
    SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR = 1800
    SLURMCTLD_COMMUNICATIONS_SEND_ERROR = 1801
    SLURMCTLD_COMMUNICATIONS_RECEIVE_ERROR = 1802
    SLURMCTLD_COMMUNICATIONS_SHUTDOWN_ERROR = 1803
    SLURM_NO_CHANGE_IN_DATA = 1900
    ESLURM_INVALID_PARTITION_NAME = 2000
    ESLURM_DEFAULT_PARTITION_NOT_SET = 2001
    ESLURM_ACCESS_DENIED = 2002
    ESLURM_JOB_MISSING_REQUIRED_PARTITION_GROUP = 2003
    ESLURM_REQUESTED_NODES_NOT_IN_PARTITION = 2004
    ESLURM_TOO_MANY_REQUESTED_CPUS = 2005
    ESLURM_INVALID_NODE_COUNT = 2006
    ESLURM_ERROR_ON_DESC_TO_RECORD_COPY = 2007
    ESLURM_JOB_MISSING_SIZE_SPECIFICATION = 2008
    ESLURM_JOB_SCRIPT_MISSING = 2009
    ESLURM_USER_ID_MISSING = 2010
    ESLURM_DUPLICATE_JOB_ID = 2011
    ESLURM_PATHNAME_TOO_LONG = 2012
    ESLURM_NOT_TOP_PRIORITY = 2013
    ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE = 2014
    ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE = 2015
    ESLURM_NODES_BUSY = 2016
    ESLURM_INVALID_JOB_ID = 2017
    ESLURM_INVALID_NODE_NAME = 2018
    ESLURM_WRITING_TO_FILE = 2019
    ESLURM_TRANSITION_STATE_NO_UPDATE = 2020
    ESLURM_ALREADY_DONE = 2021
    ESLURM_INTERCONNECT_FAILURE = 2022
    ESLURM_BAD_DIST = 2023
    ESLURM_JOB_PENDING = 2024
    ESLURM_BAD_TASK_COUNT = 2025
    ESLURM_INVALID_JOB_CREDENTIAL = 2026
    ESLURM_IN_STANDBY_MODE = 2027
    ESLURM_INVALID_NODE_STATE = 2028
    ESLURM_INVALID_FEATURE = 2029
    ESLURM_INVALID_AUTHTYPE_CHANGE = 2030
    ESLURM_ACTIVE_FEATURE_NOT_SUBSET = 2031
    ESLURM_INVALID_SCHEDTYPE_CHANGE = 2032
    ESLURM_INVALID_SELECTTYPE_CHANGE = 2033
    ESLURM_INVALID_SWITCHTYPE_CHANGE = 2034
    ESLURM_FRAGMENTATION = 2035
    ESLURM_NOT_SUPPORTED = 2036
    ESLURM_DISABLED = 2037
    ESLURM_DEPENDENCY = 2038
    ESLURM_BATCH_ONLY = 2039
    ESLURM_TASKDIST_ARBITRARY_UNSUPPORTED = 2040
    ESLURM_TASKDIST_REQUIRES_OVERCOMMIT = 2041
    ESLURM_JOB_HELD = 2042
    ESLURM_INVALID_CRED_TYPE_CHANGE = 2043
    ESLURM_INVALID_TASK_MEMORY = 2044
    ESLURM_INVALID_ACCOUNT = 2045
    ESLURM_INVALID_PARENT_ACCOUNT = 2046
    ESLURM_SAME_PARENT_ACCOUNT = 2047
    ESLURM_INVALID_LICENSES = 2048
    ESLURM_NEED_RESTART = 2049
    ESLURM_ACCOUNTING_POLICY = 2050
    ESLURM_INVALID_TIME_LIMIT = 2051
    ESLURM_RESERVATION_ACCESS = 2052
    ESLURM_RESERVATION_INVALID = 2053
    ESLURM_INVALID_TIME_VALUE = 2054
    ESLURM_RESERVATION_BUSY = 2055
    ESLURM_RESERVATION_NOT_USABLE = 2056
    ESLURM_INVALID_WCKEY = 2057
    ESLURM_RESERVATION_OVERLAP = 2058
    ESLURM_PORTS_BUSY = 2059
    ESLURM_PORTS_INVALID = 2060
    ESLURM_PROLOG_RUNNING = 2061
    ESLURM_NO_STEPS = 2062
    ESLURM_INVALID_BLOCK_STATE = 2063
    ESLURM_INVALID_BLOCK_LAYOUT = 2064
    ESLURM_INVALID_BLOCK_NAME = 2065
    ESLURM_INVALID_QOS = 2066
    ESLURM_QOS_PREEMPTION_LOOP = 2067
    ESLURM_NODE_NOT_AVAIL = 2068
    ESLURM_INVALID_CPU_COUNT = 2069
    ESLURM_PARTITION_NOT_AVAIL = 2070
    ESLURM_CIRCULAR_DEPENDENCY = 2071
    ESLURM_INVALID_GRES = 2072
    ESLURM_JOB_NOT_PENDING = 2073
    ESLURM_QOS_THRES = 2074
    ESLURM_PARTITION_IN_USE = 2075
    ESLURM_STEP_LIMIT = 2076
    ESLURM_JOB_SUSPENDED = 2077
    ESLURM_CAN_NOT_START_IMMEDIATELY = 2078
    ESLURM_INTERCONNECT_BUSY = 2079
    ESLURM_RESERVATION_EMPTY = 2080
    ESLURM_INVALID_ARRAY = 2081
    ESLURM_RESERVATION_NAME_DUP = 2082
    ESLURM_JOB_STARTED = 2083
    ESLURM_JOB_FINISHED = 2084
    ESLURM_JOB_NOT_RUNNING = 2085
    ESLURM_JOB_NOT_PENDING_NOR_RUNNING = 2086
    ESLURM_JOB_NOT_SUSPENDED = 2087
    ESLURM_JOB_NOT_FINISHED = 2088
    ESLURM_TRIGGER_DUP = 2089
    ESLURM_INTERNAL = 2090
    ESLURM_INVALID_BURST_BUFFER_CHANGE = 2091
    ESLURM_BURST_BUFFER_PERMISSION = 2092
    ESLURM_BURST_BUFFER_LIMIT = 2093
    ESLURM_INVALID_BURST_BUFFER_REQUEST = 2094
    ESLURM_PRIO_RESET_FAIL = 2095
    ESLURM_CANNOT_MODIFY_CRON_JOB = 2096
    ESLURM_INVALID_MCS_LABEL = 2099
    ESLURM_BURST_BUFFER_WAIT = 2100
    ESLURM_PARTITION_DOWN = 2101
    ESLURM_DUPLICATE_GRES = 2102
    ESLURM_JOB_SETTING_DB_INX = 2103
    ESLURM_RSV_ALREADY_STARTED = 2104
    ESLURM_SUBMISSIONS_DISABLED = 2105
    ESLURM_NOT_HET_JOB = 2106
    ESLURM_NOT_HET_JOB_LEADER = 2107
    ESLURM_NOT_WHOLE_HET_JOB = 2108
    ESLURM_CORE_RESERVATION_UPDATE = 2109
    ESLURM_DUPLICATE_STEP_ID = 2110
    ESLURM_INVALID_CORE_CNT = 2111
    ESLURM_X11_NOT_AVAIL = 2112
    ESLURM_GROUP_ID_MISSING = 2113
    ESLURM_BATCH_CONSTRAINT = 2114
    ESLURM_INVALID_TRES = 2115
    ESLURM_INVALID_TRES_BILLING_WEIGHTS = 2116
    ESLURM_INVALID_JOB_DEFAULTS = 2117
    ESLURM_RESERVATION_MAINT = 2118
    ESLURM_INVALID_GRES_TYPE = 2119
    ESLURM_REBOOT_IN_PROGRESS = 2120
    ESLURM_MULTI_KNL_CONSTRAINT = 2121
    ESLURM_UNSUPPORTED_GRES = 2122
    ESLURM_INVALID_NICE = 2123
    ESLURM_INVALID_TIME_MIN_LIMIT = 2124
    ESLURM_DEFER = 2125
    ESLURM_CONFIGLESS_DISABLED = 2126
    ESLURM_ENVIRONMENT_MISSING = 2127
    ESLURM_RESERVATION_NO_SKIP = 2128
    ESLURM_RESERVATION_USER_GROUP = 2129
    ESLURM_PARTITION_ASSOC = 2130
    ESLURM_IN_STANDBY_USE_BACKUP = 2131
    ESLURM_BAD_THREAD_PER_CORE = 2132
    ESLURM_INVALID_PREFER = 2133
    ESLURM_INSUFFICIENT_GRES = 2134
    ESLURM_INVALID_CONTAINER_ID = 2135  # 24.11
    ESLURM_REQUESTED_TOPO_CONFIG_UNAVAILABLE = 2178  # 26.05: a topology of another name
    ESPANK_ERROR = 3000
    ESPANK_BAD_ARG = 3001
    ESPANK_NOT_TASK = 3002
    ESPANK_ENV_EXISTS = 3003
    ESPANK_ENV_NOEXIST = 3004
    ESPANK_NOSPACE = 3005
    ESPANK_NOT_REMOTE = 3006
    ESPANK_NOEXIST = 3007
    ESPANK_NOT_EXECD = 3008
    ESPANK_NOT_AVAIL = 3009
    ESPANK_NOT_LOCAL = 3010
    ESLURMD_PIPE_ERROR_ON_TASK_SPAWN = 4000
    ESLURMD_KILL_TASK_FAILED = 4001
    ESLURMD_KILL_JOB_ALREADY_COMPLETE = 4002
    ESLURMD_INVALID_ACCT_FREQ = 4003
    ESLURMD_INVALID_JOB_CREDENTIAL = 4004
    ESLURMD_UID_NOT_FOUND = 4005
    ESLURMD_GID_NOT_FOUND = 4006
    ESLURMD_CREDENTIAL_EXPIRED = 4007
    ESLURMD_CREDENTIAL_REVOKED = 4008
    ESLURMD_CREDENTIAL_REPLAYED = 4009
    ESLURMD_CREATE_BATCH_DIR_ERROR = 4010
    ESLURMD_MODIFY_BATCH_DIR_ERROR = 4011
    ESLURMD_CREATE_BATCH_SCRIPT_ERROR = 4012
    ESLURMD_MODIFY_BATCH_SCRIPT_ERROR = 4013
    ESLURMD_SETUP_ENVIRONMENT_ERROR = 4014
    ESLURMD_SHARED_MEMORY_ERROR = 4015
    ESLURMD_SET_UID_OR_GID_ERROR = 4016
    ESLURMD_SET_SID_ERROR = 4017
    ESLURMD_CANNOT_SPAWN_IO_THREAD = 4018
    ESLURMD_FORK_FAILED = 4019
    ESLURMD_EXECVE_FAILED = 4020
    ESLURMD_IO_ERROR = 4021
    ESLURMD_PROLOG_FAILED = 4022
    ESLURMD_EPILOG_FAILED = 4023
    ESLURMD_SESSION_KILLED = 4024
    ESLURMD_TOOMANYSTEPS = 4025
    ESLURMD_STEP_EXISTS = 4026
    ESLURMD_JOB_NOTRUNNING = 4027
    ESLURMD_STEP_SUSPENDED = 4028
    ESLURMD_STEP_NOTSUSPENDED = 4029
    ESLURMD_INVALID_SOCKET_NAME_LEN = 4030
    ESLURMD_CONTAINER_RUNTIME_INVALID = 4031
    ESLURMD_CPU_BIND_ERROR = 4032
    ESLURMD_CPU_LAYOUT_ERROR = 4033
    ESCRIPT_CHDIR_FAILED = 4100
    ESCRIPT_OPEN_OUTPUT_FAILED = 4101
    ESCRIPT_NON_ZERO_RETURN = 4102
    SLURM_PROTOCOL_SOCKET_IMPL_ZERO_RECV_LENGTH = 5000
    SLURM_PROTOCOL_SOCKET_IMPL_NEGATIVE_RECV_LENGTH = 5001
    SLURM_PROTOCOL_SOCKET_IMPL_NOT_ALL_DATA_SENT = 5002
    ESLURM_PROTOCOL_INCOMPLETE_PACKET = 5003
    SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT = 5004
    SLURM_PROTOCOL_SOCKET_ZERO_BYTES_SENT = 5005
    ESLURM_AUTH_CRED_INVALID = 6000
    ESLURM_AUTH_FOPEN_ERROR = 6001
    ESLURM_AUTH_NET_ERROR = 6002
    ESLURM_AUTH_UNABLE_TO_SIGN = 6003
    ESLURM_AUTH_BADARG = 6004
    ESLURM_AUTH_MEMORY = 6005
    ESLURM_AUTH_INVALID = 6006
    ESLURM_AUTH_UNPACK = 6007
    ESLURM_AUTH_SKIP = 6008
    ESLURM_DB_CONNECTION = 7000
    ESLURM_JOBS_RUNNING_ON_ASSOC = 7001
    ESLURM_CLUSTER_DELETED = 7002
    ESLURM_ONE_CHANGE = 7003
    ESLURM_BAD_NAME = 7004
    ESLURM_OVER_ALLOCATE = 7005
    ESLURM_RESULT_TOO_LARGE = 7006
    ESLURM_DB_QUERY_TOO_WIDE = 7007
    ESLURM_DB_CONNECTION_INVALID = 7008
    ESLURM_NO_REMOVE_DEFAULT_ACCOUNT = 7009
    ESLURM_FED_CLUSTER_MAX_CNT = 7100
    ESLURM_FED_CLUSTER_MULTIPLE_ASSIGNMENT = 7101
    ESLURM_INVALID_CLUSTER_FEATURE = 7102
    ESLURM_JOB_NOT_FEDERATED = 7103
    ESLURM_INVALID_CLUSTER_NAME = 7104
    ESLURM_FED_JOB_LOCK = 7105
    ESLURM_FED_NO_VALID_CLUSTERS = 7106
    ESLURM_MISSING_TIME_LIMIT = 8000
    ESLURM_INVALID_KNL = 8001
    ESLURM_PLUGIN_INVALID = 8002
    ESLURM_PLUGIN_INCOMPLETE = 8003
    ESLURM_REST_INVALID_QUERY = 9000
    ESLURM_REST_FAIL_PARSING = 9001
    ESLURM_REST_INVALID_JOBS_DESC = 9002
    ESLURM_REST_EMPTY_RESULT = 9003
    ESLURM_DATA_PATH_NOT_FOUND = 9200
    ESLURM_DATA_PTR_NULL = 9201
    ESLURM_DATA_CONV_FAILED = 9202
    ESLURM_DATA_REGEX_COMPILE = 9203
    ESLURM_DATA_UNKNOWN_MIME_TYPE = 9204
    ESLURM_DATA_TOO_LARGE = 9205
    ESLURM_CONTAINER_NOT_CONFIGURED = 10000


# slurm_strerror() texts, keyed by return code
_ERROR_TEXT: dict[int, str] = {
    0: "No error",
    -1: "Unspecified error",
    1000: "Unexpected message received",
    1001: "Communication connection failure",
    1002: "Message send failure",
    1003: "Message receive failure",
    1004: "Communication shutdown failure",
    1005: "Incompatible versions of client and server code",
    1006: "I/O stream version number error",
    1007: "Protocol authentication error",
    1008: "Insane message length",
    1009: "Invalid MPI plugin name",
    1010: "MPI plugin's pre-launch setup failed",
    1011: "Plugin initialization failed",
    1012: "Can't find an address, check slurm.conf",
    1013: "Unexpected missing socket error",
    1800: "Unable to contact slurm controller (connect failure)",
    1801: "Unable to contact slurm controller (send failure)",
    1802: "Unable to contact slurm controller (receive failure)",
    1803: "Unable to contact slurm controller (shutdown failure)",
    2000: "Invalid partition name specified",
    2001: "No partition specified or system default partition",
    2002: "Access/permission denied",
    2003: "User's group not permitted to use this partition",
    2004: "Requested nodes not in this partition",
    2005: "More processors requested than permitted",
    2006: "Node count specification invalid",
    2007: "Unable to create job record, try again",
    2008: "Job size specification needs to be provided",
    2009: "Job script not specified",
    2010: "Invalid user id",
    2011: "Duplicate job id",
    2012: "Pathname of a file, directory or other parameter too long",
    2013: "Immediate execution impossible, insufficient priority",
    2014: "Requested node configuration is not available",
    2015: "Requested partition configuration not available now",
    2016: "Requested nodes are busy",
    2017: "Invalid job id specified",
    2018: "Invalid node name specified",
    2111: "Core count for reservation node list is not consistent!",
    2019: "I/O error writing script/environment to file",
    2020: "Job can not be altered now, try again later",
    2021: "Job/step already completing or completed",
    2022: "Error configuring interconnect",
    2023: "Task distribution specification invalid",
    2024: "Job is pending execution",
    2025: "Task count specification invalid",
    2026: "Error generating job credential",
    2027: "Slurm backup controller in standby mode",
    2028: "Invalid node state specified",
    2029: "Invalid feature specification",
    2030: "AuthType change requires restart of all Slurm daemons and commands to take effect",
    2031: "Active features not subset of available features",
    2043: "CredType change requires restart of all Slurm daemons to take effect",
    2032: "SchedulerType change requires restart of the slurmctld daemon to take effect",
    2033: "SelectType change requires restart of the slurmctld daemon to take effect",
    2034: "SwitchType change requires restart of all Slurm daemons and jobs to take effect",
    2035: "Immediate execution impossible, resources too fragmented for allocation",
    2036: "Requested operation not supported on this system",
    2037: "Requested operation is presently disabled",
    2038: "Job dependency problem",
    2039: "Only batch jobs are accepted or processed",
    2040: "Current SwitchType does not permit arbitrary task distribution",
    2041: "Requested more tasks than available processors",
    2042: "Job is in held state, pending scheduler release",
    2044: "Memory required by task is not available",
    2045: "Invalid account or account/partition combination specified",
    2046: "Invalid parent account specified",
    2047: "Account already child of parent account specified",
    2066: "Invalid qos specification",
    2057: "Invalid wckey specification",
    2048: "Invalid license specification",
    2049: "The node configuration changes that were made require restart of the slurmctld daemon to take effect",
    2050: "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
    2051: "Requested time limit is invalid (missing or exceeds some limit)",
    2052: "Access denied to requested reservation",
    2053: "Requested reservation is invalid",
    2054: "Invalid time specified",
    2055: "Requested reservation is in use",
    2056: "Requested reservation not usable now",
    2058: "Requested reservation overlaps with another reservation",
    2059: "Required ports are in use",
    2060: "Requires more ports than can be reserved",
    2061: "PrologSlurmctld is still running",
    2062: "Job steps can not be run on this cluster",
    2063: "Invalid block state specified",
    2064: "Functionality not available with current block layout mode",
    2065: "Invalid block name specified",
    2067: "QOS Preemption loop detected",
    2068: "Required node not available (down, drained or reserved)",
    2069: "CPU count specification invalid",
    2070: "Required partition not available (inactive or drain)",
    2071: "Circular job dependency",
    2072: "Invalid generic resource (gres) specification",
    2073: "Job is no longer pending execution",
    2074: "Requested account has breached requested QOS usage threshold",
    2075: "Partition is in use",
    2076: "Step limit reached for this job",
    2077: "Job is current suspended, requested operation disabled",
    2078: "Job can not start immediately",
    2079: "Switch resources currently not available",
    2080: "Reservation request lacks users, groups or accounts",
    2081: "Invalid job array specification",
    2082: "Duplicate reservation name",
    2083: "Job has already started",
    2084: "Job has already finished",
    2085: "Job is not running",
    2086: "Job is not pending nor running",
    2087: "Job is not suspended",
    2088: "Job is not finished",
    2089: "Duplicate event trigger",
    2090: "Slurm internal error, contact system administrator",
    2091: "BurstBufferType change requires restart of slurmctld daemon to take effect",
    2092: "Burst Buffer permission denied",
    2093: "Burst Buffer resource limit exceeded",
    2094: "Burst Buffer request invalid",
    2095: "Changes to job priority are not persistent, change nice instead",
    2096: "Cannot modify scrontab jobs through scontrol",
    2099: "Invalid mcs_label specified",
    2100: "Waiting for burst buffer",
    2101: "Partition in DOWN state",
    2102: "Duplicate generic resource (gres) specification",
    2103: "Job update not available right now, the DB index is being set, try again in a bit",
    2104: "Reservation already started",
    2105: "System submissions disabled",
    2106: "Job not heterogeneous job",
    2107: "Job not heterogeneous job leader",
    2108: "Operation not permitted on individual component of heterogeneous job",
    2109: "Core-based reservation can not be updated",
    2110: "Duplicate job step id",
    2112: "X11 forwarding not available",
    2113: "Invalid group id",
    2114: "Job --batch option is invalid or not a subset of --constraints",
    2115: "Invalid Trackable RESource (TRES) specification",
    2116: "Invalid TRESBillingWeights specification",
    2117: "Invalid JobDefaults specification",
    2118: "Job can not start due to maintenance reservation.",
    2119: "Invalid GRES specification (with and without type identification)",
    2120: "Reboot already in progress",
    2121: "Multiple KNL NUMA and/or MCDRAM constraints require use of a heterogeneous job",
    2122: "Requested GRES option unsupported by configured SelectType plugin",
    2123: "Invalid --nice value",
    2124: "Invalid time-min specification (exceeds job's time or other limits)",
    2125: "Immediate execution impossible. Individual job submission scheduling attempts deferred",
    2126: "ConfigLess mode is disabled in slurm configuration.",
    2127: "Environment is missing in job",
    2128: "Reservation given is not skipable, try deleting instead",
    2129: "Reservations can't have users and groups specified, only one or the other",
    2130: "Multiple partition job request not supported when a partition is set in the association",
    2131: "Controller is in standby mode, try a different controller",
    2132: "Cannot request more threads per core than the job allocation",
    2133: "Invalid preferred feature specification",
    2134: "Insufficient GRES available in allocation",
    3000: "Generic error",
    3001: "Bad argument",
    3002: "Not in task context",
    3003: "Environment variable exists",
    3004: "No such environment variable",
    3005: "Buffer too small",
    3006: "Valid only in remote context",
    3007: "Id/PID does not exist on this node",
    3008: "Lookup by PID requested, but no tasks running",
    3009: "Item not available from this callback",
    3010: "Valid only in local or allocator context",
    4000: "Pipe error on task spawn",
    4001: "Kill task failed",
    4005: "User not found on host",
    4006: "Group ID not found on host",
    4003: "Invalid accounting frequency requested",
    4004: "Invalid job credential",
    4008: "Job credential revoked",
    4007: "Job credential expired",
    4009: "Job credential replayed",
    4010: "Slurmd could not create a batch directory or file",
    4011: "Slurmd could not chown or chmod a batch directory",
    4012: "Slurmd could not create a batch script",
    4013: "Slurmd could not chown or chmod a batch script",
    4014: "Slurmd could not set up environment for batch job",
    4015: "Slurmd shared memory error",
    4016: "Slurmd could not set UID or GID",
    4017: "Slurmd could not set session ID",
    4018: "Slurmd could not spawn I/O thread",
    4019: "Slurmd could not fork job",
    4020: "Slurmd could not execve job",
    4021: "Slurmd could not connect IO",
    4022: "Job prolog failed",
    4023: "Job epilog failed",
    4024: "Session manager killed",
    4025: "Too many job steps on node",
    4026: "Job step already exists",
    4027: "Job step not running",
    4028: "Job step is suspended",
    4029: "Job step is not currently suspended",
    4030: "Unix socket name exceeded maximum length",
    4031: "Container runtime not configured or invalid",
    4032: "Unable to satisfy cpu bind request",
    4033: "Unable to layout tasks on given cpus",
    4100: "unable to change directory to work directory",
    4101: "could not open output file",
    4102: "Script terminated with non-zero exit code",
    5000: "Received zero length message",
    5001: "Received message length < 0",
    5002: "Failed to send entire message",
    5003: "Header lengths are longer than data received",
    5004: "Socket timed out on send/recv operation",
    5005: "Zero Bytes were transmitted or received",
    6000: "Invalid authentication credential",
    6001: "Failed to open authentication public key",
    6002: "Failed to connect to authentication agent",
    6004: "Bad argument to plugin function",
    6005: "Memory management error",
    6006: "Authentication credential invalid",
    6007: "Cannot unpack credential",
    6008: "Authentication does not apply to request",
    7000: "Unable to connect to database",
    7001: "Job(s) active, cancel job(s) before remove",
    7002: "Cluster deleted, commit/rollback immediately",
    7003: "Can only change one at a time",
    7004: "Unacceptable name given. (No '.' in name allowed)",
    7005: "You can not allocate more than 100% of a resource",
    7006: "Query result exceeds size limit",
    7007: "Too wide of a date range in query",
    7008: "Database connection reference is invalid",
    7009: "You can not remove the default account of a user",
    7100: "Too many clusters in federation",
    7101: "Clusters can only be assigned to one federation",
    7102: "Invalid cluster feature specification",
    7103: "Not a valid federated job",
    7104: "Invalid cluster name",
    7105: "Job locked by another sibling",
    7106: "No eligible clusters for federated job",
    8000: "Time limit specification required, but not provided",
    8001: "Invalid KNL configuration (MCDRAM or NUMA option)",
    8002: "Plugin has invalid format or unable to be loaded",
    8003: "Plugin missing required symbol or function",
    9000: "Query empty or not RFC7320 compliant",
    9001: "Failure during parsing",
    9002: "Jobs description entry not found, empty or not dictionary or list",
    9003: "Nothing found with query",
    9200: "Unable to resolve path",
    9201: "Data pointer is NULL",
    9202: "Unable to convert Data type",
    9203: "Unable to compile regex",
    9204: "MIME type is unknown to any loaded plugins",
    9205: "DATA too large to handle",
    10000: "Container support is not configured",
}


def slurm_strerror(rc: int) -> str:
    """The text SLURM clients print for a return code."""
    text = _ERROR_TEXT.get(rc)
    if text is not None:
        return text
    return "Unknown error " + str(rc) if rc >= 1000 else "Unknown error"


class JobStateReason(IntEnum):
    """enum job_state_reason."""

    WAIT_NO_REASON = 0
    WAIT_PRIORITY = 1
    WAIT_DEPENDENCY = 2
    WAIT_RESOURCES = 3
    WAIT_PART_NODE_LIMIT = 4
    WAIT_PART_TIME_LIMIT = 5
    WAIT_PART_DOWN = 6
    WAIT_PART_INACTIVE = 7
    WAIT_HELD = 8
    WAIT_TIME = 9
    WAIT_LICENSES = 10
    WAIT_ASSOC_JOB_LIMIT = 11
    WAIT_ASSOC_RESOURCE_LIMIT = 12
    WAIT_ASSOC_TIME_LIMIT = 13
    WAIT_RESERVATION = 14
    WAIT_NODE_NOT_AVAIL = 15
    WAIT_HELD_USER = 16
    WAIT_FRONT_END = 17
    FAIL_DEFER = 18
    FAIL_DOWN_PARTITION = 19
    FAIL_DOWN_NODE = 20
    FAIL_BAD_CONSTRAINTS = 21
    FAIL_SYSTEM = 22
    FAIL_LAUNCH = 23
    FAIL_EXIT_CODE = 24
    FAIL_TIMEOUT = 25
    FAIL_INACTIVE_LIMIT = 26
    FAIL_ACCOUNT = 27
    FAIL_QOS = 28
    WAIT_QOS_THRES = 29
    WAIT_QOS_JOB_LIMIT = 30
    WAIT_QOS_RESOURCE_LIMIT = 31
    WAIT_QOS_TIME_LIMIT = 32
    WAIT_BLOCK_MAX_ERR = 33
    WAIT_BLOCK_D_ACTION = 34
    WAIT_CLEANING = 35
    WAIT_PROLOG = 36
    WAIT_QOS = 37
    WAIT_ACCOUNT = 38
    WAIT_DEP_INVALID = 39
    WAIT_QOS_GRP_CPU = 40
    WAIT_QOS_GRP_CPU_MIN = 41
    WAIT_QOS_GRP_CPU_RUN_MIN = 42
    WAIT_QOS_GRP_JOB = 43
    WAIT_QOS_GRP_MEM = 44
    WAIT_QOS_GRP_NODE = 45
    WAIT_QOS_GRP_SUB_JOB = 46
    WAIT_QOS_GRP_WALL = 47
    WAIT_QOS_MAX_CPU_PER_JOB = 48
    WAIT_QOS_MAX_CPU_MINS_PER_JOB = 49
    WAIT_QOS_MAX_NODE_PER_JOB = 50
    WAIT_QOS_MAX_WALL_PER_JOB = 51
    WAIT_QOS_MAX_CPU_PER_USER = 52
    WAIT_QOS_MAX_JOB_PER_USER = 53
    WAIT_QOS_MAX_NODE_PER_USER = 54
    WAIT_QOS_MAX_SUB_JOB = 55
    WAIT_QOS_MIN_CPU = 56
    WAIT_ASSOC_GRP_CPU = 57
    WAIT_ASSOC_GRP_CPU_MIN = 58
    WAIT_ASSOC_GRP_CPU_RUN_MIN = 59
    WAIT_ASSOC_GRP_JOB = 60
    WAIT_ASSOC_GRP_MEM = 61
    WAIT_ASSOC_GRP_NODE = 62
    WAIT_ASSOC_GRP_SUB_JOB = 63
    WAIT_ASSOC_GRP_WALL = 64
    WAIT_ASSOC_MAX_JOBS = 65
    WAIT_ASSOC_MAX_CPU_PER_JOB = 66
    WAIT_ASSOC_MAX_CPU_MINS_PER_JOB = 67
    WAIT_ASSOC_MAX_NODE_PER_JOB = 68
    WAIT_ASSOC_MAX_WALL_PER_JOB = 69
    WAIT_ASSOC_MAX_SUB_JOB = 70
    WAIT_MAX_REQUEUE = 71
    WAIT_ARRAY_TASK_LIMIT = 72
    WAIT_BURST_BUFFER_RESOURCE = 73
    WAIT_BURST_BUFFER_STAGING = 74
    FAIL_BURST_BUFFER_OP = 75
    WAIT_POWER_NOT_AVAIL = 76
    WAIT_POWER_RESERVED = 77
    WAIT_ASSOC_GRP_UNK = 78
    WAIT_ASSOC_GRP_UNK_MIN = 79
    WAIT_ASSOC_GRP_UNK_RUN_MIN = 80
    WAIT_ASSOC_MAX_UNK_PER_JOB = 81
    WAIT_ASSOC_MAX_UNK_PER_NODE = 82
    WAIT_ASSOC_MAX_UNK_MINS_PER_JOB = 83
    WAIT_ASSOC_MAX_CPU_PER_NODE = 84
    WAIT_ASSOC_GRP_MEM_MIN = 85
    WAIT_ASSOC_GRP_MEM_RUN_MIN = 86
    WAIT_ASSOC_MAX_MEM_PER_JOB = 87
    WAIT_ASSOC_MAX_MEM_PER_NODE = 88
    WAIT_ASSOC_MAX_MEM_MINS_PER_JOB = 89
    WAIT_ASSOC_GRP_NODE_MIN = 90
    WAIT_ASSOC_GRP_NODE_RUN_MIN = 91
    WAIT_ASSOC_MAX_NODE_MINS_PER_JOB = 92
    WAIT_ASSOC_GRP_ENERGY = 93
    WAIT_ASSOC_GRP_ENERGY_MIN = 94
    WAIT_ASSOC_GRP_ENERGY_RUN_MIN = 95
    WAIT_ASSOC_MAX_ENERGY_PER_JOB = 96
    WAIT_ASSOC_MAX_ENERGY_PER_NODE = 97
    WAIT_ASSOC_MAX_ENERGY_MINS_PER_JOB = 98
    WAIT_ASSOC_GRP_GRES = 99
    WAIT_ASSOC_GRP_GRES_MIN = 100
    WAIT_ASSOC_GRP_GRES_RUN_MIN = 101
    WAIT_ASSOC_MAX_GRES_PER_JOB = 102
    WAIT_ASSOC_MAX_GRES_PER_NODE = 103
    WAIT_ASSOC_MAX_GRES_MINS_PER_JOB = 104
    WAIT_ASSOC_GRP_LIC = 105
    WAIT_ASSOC_GRP_LIC_MIN = 106
    WAIT_ASSOC_GRP_LIC_RUN_MIN = 107
    WAIT_ASSOC_MAX_LIC_PER_JOB = 108
    WAIT_ASSOC_MAX_LIC_MINS_PER_JOB = 109
    WAIT_ASSOC_GRP_BB = 110
    WAIT_ASSOC_GRP_BB_MIN = 111
    WAIT_ASSOC_GRP_BB_RUN_MIN = 112
    WAIT_ASSOC_MAX_BB_PER_JOB = 113
    WAIT_ASSOC_MAX_BB_PER_NODE = 114
    WAIT_ASSOC_MAX_BB_MINS_PER_JOB = 115
    WAIT_QOS_GRP_UNK = 116
    WAIT_QOS_GRP_UNK_MIN = 117
    WAIT_QOS_GRP_UNK_RUN_MIN = 118
    WAIT_QOS_MAX_UNK_PER_JOB = 119
    WAIT_QOS_MAX_UNK_PER_NODE = 120
    WAIT_QOS_MAX_UNK_PER_USER = 121
    WAIT_QOS_MAX_UNK_MINS_PER_JOB = 122
    WAIT_QOS_MIN_UNK = 123
    WAIT_QOS_MAX_CPU_PER_NODE = 124
    WAIT_QOS_GRP_MEM_MIN = 125
    WAIT_QOS_GRP_MEM_RUN_MIN = 126
    WAIT_QOS_MAX_MEM_MINS_PER_JOB = 127
    WAIT_QOS_MAX_MEM_PER_JOB = 128
    WAIT_QOS_MAX_MEM_PER_NODE = 129
    WAIT_QOS_MAX_MEM_PER_USER = 130
    WAIT_QOS_MIN_MEM = 131
    WAIT_QOS_GRP_ENERGY = 132
    WAIT_QOS_GRP_ENERGY_MIN = 133
    WAIT_QOS_GRP_ENERGY_RUN_MIN = 134
    WAIT_QOS_MAX_ENERGY_PER_JOB = 135
    WAIT_QOS_MAX_ENERGY_PER_NODE = 136
    WAIT_QOS_MAX_ENERGY_PER_USER = 137
    WAIT_QOS_MAX_ENERGY_MINS_PER_JOB = 138
    WAIT_QOS_MIN_ENERGY = 139
    WAIT_QOS_GRP_NODE_MIN = 140
    WAIT_QOS_GRP_NODE_RUN_MIN = 141
    WAIT_QOS_MAX_NODE_MINS_PER_JOB = 142
    WAIT_QOS_MIN_NODE = 143
    WAIT_QOS_GRP_GRES = 144
    WAIT_QOS_GRP_GRES_MIN = 145
    WAIT_QOS_GRP_GRES_RUN_MIN = 146
    WAIT_QOS_MAX_GRES_PER_JOB = 147
    WAIT_QOS_MAX_GRES_PER_NODE = 148
    WAIT_QOS_MAX_GRES_PER_USER = 149
    WAIT_QOS_MAX_GRES_MINS_PER_JOB = 150
    WAIT_QOS_MIN_GRES = 151
    WAIT_QOS_GRP_LIC = 152
    WAIT_QOS_GRP_LIC_MIN = 153
    WAIT_QOS_GRP_LIC_RUN_MIN = 154
    WAIT_QOS_MAX_LIC_PER_JOB = 155
    WAIT_QOS_MAX_LIC_PER_USER = 156
    WAIT_QOS_MAX_LIC_MINS_PER_JOB = 157
    WAIT_QOS_MIN_LIC = 158
    WAIT_QOS_GRP_BB = 159
    WAIT_QOS_GRP_BB_MIN = 160
    WAIT_QOS_GRP_BB_RUN_MIN = 161
    WAIT_QOS_MAX_BB_PER_JOB = 162
    WAIT_QOS_MAX_BB_PER_NODE = 163
    WAIT_QOS_MAX_BB_PER_USER = 164
    WAIT_QOS_MAX_BB_MINS_PER_JOB = 165
    WAIT_QOS_MIN_BB = 166
    FAIL_DEADLINE = 167
    WAIT_QOS_MAX_BB_PER_ACCT = 168
    WAIT_QOS_MAX_CPU_PER_ACCT = 169
    WAIT_QOS_MAX_ENERGY_PER_ACCT = 170
    WAIT_QOS_MAX_GRES_PER_ACCT = 171
    WAIT_QOS_MAX_NODE_PER_ACCT = 172
    WAIT_QOS_MAX_LIC_PER_ACCT = 173
    WAIT_QOS_MAX_MEM_PER_ACCT = 174
    WAIT_QOS_MAX_UNK_PER_ACCT = 175
    WAIT_QOS_MAX_JOB_PER_ACCT = 176
    WAIT_QOS_MAX_SUB_JOB_PER_ACCT = 177
    WAIT_PART_CONFIG = 178
    WAIT_ACCOUNT_POLICY = 179
    WAIT_FED_JOB_LOCK = 180
    FAIL_OOM = 181
    WAIT_PN_MEM_LIMIT = 182
    WAIT_ASSOC_GRP_BILLING = 183
    WAIT_ASSOC_GRP_BILLING_MIN = 184
    WAIT_ASSOC_GRP_BILLING_RUN_MIN = 185
    WAIT_ASSOC_MAX_BILLING_PER_JOB = 186
    WAIT_ASSOC_MAX_BILLING_PER_NODE = 187
    WAIT_ASSOC_MAX_BILLING_MINS_PER_JOB = 188
    WAIT_QOS_GRP_BILLING = 189
    WAIT_QOS_GRP_BILLING_MIN = 190
    WAIT_QOS_GRP_BILLING_RUN_MIN = 191
    WAIT_QOS_MAX_BILLING_PER_JOB = 192
    WAIT_QOS_MAX_BILLING_PER_NODE = 193
    WAIT_QOS_MAX_BILLING_PER_USER = 194
    WAIT_QOS_MAX_BILLING_MINS_PER_JOB = 195
    WAIT_QOS_MAX_BILLING_PER_ACCT = 196
    WAIT_QOS_MIN_BILLING = 197
    WAIT_RESV_DELETED = 198


# job_reason_string(): what squeue and scontrol print
REASON_TEXT: dict[int, str] = {
    JobStateReason.WAIT_NO_REASON: "None",
    JobStateReason.WAIT_PROLOG: "Prolog",
    JobStateReason.WAIT_PRIORITY: "Priority",
    JobStateReason.WAIT_DEPENDENCY: "Dependency",
    JobStateReason.WAIT_RESOURCES: "Resources",
    JobStateReason.WAIT_PART_NODE_LIMIT: "PartitionNodeLimit",
    JobStateReason.WAIT_PART_TIME_LIMIT: "PartitionTimeLimit",
    JobStateReason.WAIT_PART_DOWN: "PartitionDown",
    JobStateReason.WAIT_PART_INACTIVE: "PartitionInactive",
    JobStateReason.WAIT_HELD: "JobHeldAdmin",
    JobStateReason.WAIT_HELD_USER: "JobHeldUser",
    JobStateReason.WAIT_TIME: "BeginTime",
    JobStateReason.WAIT_LICENSES: "Licenses",
    JobStateReason.WAIT_ASSOC_JOB_LIMIT: "AssociationJobLimit",
    JobStateReason.WAIT_ASSOC_RESOURCE_LIMIT: "AssociationResourceLimit",
    JobStateReason.WAIT_ASSOC_TIME_LIMIT: "AssociationTimeLimit",
    JobStateReason.WAIT_RESERVATION: "Reservation",
    JobStateReason.WAIT_NODE_NOT_AVAIL: "ReqNodeNotAvail",
    JobStateReason.WAIT_FRONT_END: "FrontEndDown",
    JobStateReason.FAIL_DEFER: "SchedDefer",
    JobStateReason.FAIL_DOWN_PARTITION: "PartitionDown",
    JobStateReason.FAIL_DOWN_NODE: "NodeDown",
    JobStateReason.FAIL_BAD_CONSTRAINTS: "BadConstraints",
    JobStateReason.FAIL_SYSTEM: "SystemFailure",
    JobStateReason.FAIL_LAUNCH: "JobLaunchFailure",
    JobStateReason.FAIL_EXIT_CODE: "NonZeroExitCode",
    JobStateReason.FAIL_TIMEOUT: "TimeLimit",
    JobStateReason.FAIL_INACTIVE_LIMIT: "InactiveLimit",
    JobStateReason.FAIL_ACCOUNT: "InvalidAccount",
    JobStateReason.FAIL_QOS: "InvalidQOS",
    JobStateReason.WAIT_QOS_THRES: "QOSUsageThreshold",
    JobStateReason.WAIT_QOS_JOB_LIMIT: "QOSJobLimit",
    JobStateReason.WAIT_QOS_RESOURCE_LIMIT: "QOSResourceLimit",
    JobStateReason.WAIT_QOS_TIME_LIMIT: "QOSTimeLimit",
    JobStateReason.WAIT_BLOCK_MAX_ERR: "BlockMaxError",
    JobStateReason.WAIT_BLOCK_D_ACTION: "BlockFreeAction",
    JobStateReason.WAIT_CLEANING: "Cleaning",
    JobStateReason.WAIT_QOS: "QOSNotAllowed",
    JobStateReason.WAIT_ACCOUNT: "AccountNotAllowed",
    JobStateReason.WAIT_DEP_INVALID: "DependencyNeverSatisfied",
    JobStateReason.WAIT_QOS_GRP_CPU: "QOSGrpCpuLimit",
    JobStateReason.WAIT_QOS_GRP_CPU_MIN: "QOSGrpCPUMinutesLimit",
    JobStateReason.WAIT_QOS_GRP_CPU_RUN_MIN: "QOSGrpCPURunMinutesLimit",
    JobStateReason.WAIT_QOS_GRP_JOB: "QOSGrpJobsLimit",
    JobStateReason.WAIT_QOS_GRP_MEM: "QOSGrpMemLimit",
    JobStateReason.WAIT_QOS_GRP_NODE: "QOSGrpNodeLimit",
    JobStateReason.WAIT_QOS_GRP_SUB_JOB: "QOSGrpSubmitJobsLimit",
    JobStateReason.WAIT_QOS_GRP_WALL: "QOSGrpWallLimit",
    JobStateReason.WAIT_QOS_MAX_CPU_PER_JOB: "QOSMaxCpuPerJobLimit",
    JobStateReason.WAIT_QOS_MAX_CPU_MINS_PER_JOB: "QOSMaxCpuMinutesPerJobLimit",
    JobStateReason.WAIT_QOS_MAX_NODE_PER_JOB: "QOSMaxNodePerJobLimit",
    JobStateReason.WAIT_QOS_MAX_WALL_PER_JOB: "QOSMaxWallDurationPerJobLimit",
    JobStateReason.WAIT_QOS_MAX_CPU_PER_USER: "QOSMaxCpuPerUserLimit",
    JobStateReason.WAIT_QOS_MAX_JOB_PER_USER: "QOSMaxJobsPerUserLimit",
    JobStateReason.WAIT_QOS_MAX_NODE_PER_USER: "QOSMaxNodePerUserLimit",
    JobStateReason.WAIT_QOS_MAX_SUB_JOB: "QOSMaxSubmitJobPerUserLimit",
    JobStateReason.WAIT_QOS_MIN_CPU: "QOSMinCpuNotSatisfied",
    JobStateReason.WAIT_ASSOC_GRP_CPU: "AssocGrpCpuLimit",
    JobStateReason.WAIT_ASSOC_GRP_CPU_MIN: "AssocGrpCPUMinutesLimit",
    JobStateReason.WAIT_ASSOC_GRP_CPU_RUN_MIN: "AssocGrpCPURunMinutesLimit",
    JobStateReason.WAIT_ASSOC_GRP_JOB: "AssocGrpJobsLimit",
    JobStateReason.WAIT_ASSOC_GRP_MEM: "AssocGrpMemLimit",
    JobStateReason.WAIT_ASSOC_GRP_NODE: "AssocGrpNodeLimit",
    JobStateReason.WAIT_ASSOC_GRP_SUB_JOB: "AssocGrpSubmitJobsLimit",
    JobStateReason.WAIT_ASSOC_GRP_WALL: "AssocGrpWallLimit",
    JobStateReason.WAIT_ASSOC_MAX_JOBS: "AssocMaxJobsLimit",
    JobStateReason.WAIT_ASSOC_MAX_CPU_PER_JOB: "AssocMaxCpuPerJobLimit",
    JobStateReason.WAIT_ASSOC_MAX_CPU_MINS_PER_JOB: "AssocMaxCpuMinutesPerJobLimit",
    JobStateReason.WAIT_ASSOC_MAX_NODE_PER_JOB: "AssocMaxNodePerJobLimit",
    JobStateReason.WAIT_ASSOC_MAX_WALL_PER_JOB: "AssocMaxWallDurationPerJobLimit",
    JobStateReason.WAIT_ASSOC_MAX_SUB_JOB: "AssocMaxSubmitJobLimit",
    JobStateReason.WAIT_MAX_REQUEUE: "JobHoldMaxRequeue",
    JobStateReason.WAIT_ARRAY_TASK_LIMIT: "JobArrayTaskLimit",
    JobStateReason.WAIT_BURST_BUFFER_RESOURCE: "BurstBufferResources",
    JobStateReason.WAIT_BURST_BUFFER_STAGING: "BurstBufferStageIn",
    JobStateReason.FAIL_BURST_BUFFER_OP: "BurstBufferOperation",
    JobStateReason.WAIT_POWER_NOT_AVAIL: "PowerNotAvail",
    JobStateReason.WAIT_POWER_RESERVED: "PowerReserved",
    JobStateReason.WAIT_ASSOC_GRP_UNK: "AssocGrpUnknown",
    JobStateReason.WAIT_ASSOC_GRP_UNK_MIN: "AssocGrpUnknownMinutes",
    JobStateReason.WAIT_ASSOC_GRP_UNK_RUN_MIN: "AssocGrpUnknownRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_UNK_PER_JOB: "AssocMaxUnknownPerJob",
    JobStateReason.WAIT_ASSOC_MAX_UNK_PER_NODE: "AssocMaxUnknownPerNode",
    JobStateReason.WAIT_ASSOC_MAX_UNK_MINS_PER_JOB: "AssocMaxUnknownMinutesPerJob",
    JobStateReason.WAIT_ASSOC_MAX_CPU_PER_NODE: "AssocMaxCpuPerNode",
    JobStateReason.WAIT_ASSOC_GRP_MEM_MIN: "AssocGrpMemMinutes",
    JobStateReason.WAIT_ASSOC_GRP_MEM_RUN_MIN: "AssocGrpMemRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_MEM_PER_JOB: "AssocMaxMemPerJob",
    JobStateReason.WAIT_ASSOC_MAX_MEM_PER_NODE: "AssocMaxMemPerNode",
    JobStateReason.WAIT_ASSOC_MAX_MEM_MINS_PER_JOB: "AssocMaxMemMinutesPerJob",
    JobStateReason.WAIT_ASSOC_GRP_NODE_MIN: "AssocGrpNodeMinutes",
    JobStateReason.WAIT_ASSOC_GRP_NODE_RUN_MIN: "AssocGrpNodeRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_NODE_MINS_PER_JOB: "AssocMaxNodeMinutesPerJob",
    JobStateReason.WAIT_ASSOC_GRP_ENERGY: "AssocGrpEnergy",
    JobStateReason.WAIT_ASSOC_GRP_ENERGY_MIN: "AssocGrpEnergyMinutes",
    JobStateReason.WAIT_ASSOC_GRP_ENERGY_RUN_MIN: "AssocGrpEnergyRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_ENERGY_PER_JOB: "AssocMaxEnergyPerJob",
    JobStateReason.WAIT_ASSOC_MAX_ENERGY_PER_NODE: "AssocMaxEnergyPerNode",
    JobStateReason.WAIT_ASSOC_MAX_ENERGY_MINS_PER_JOB: "AssocMaxEnergyMinutesPerJob",
    JobStateReason.WAIT_ASSOC_GRP_GRES: "AssocGrpGRES",
    JobStateReason.WAIT_ASSOC_GRP_GRES_MIN: "AssocGrpGRESMinutes",
    JobStateReason.WAIT_ASSOC_GRP_GRES_RUN_MIN: "AssocGrpGRESRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_GRES_PER_JOB: "AssocMaxGRESPerJob",
    JobStateReason.WAIT_ASSOC_MAX_GRES_PER_NODE: "AssocMaxGRESPerNode",
    JobStateReason.WAIT_ASSOC_MAX_GRES_MINS_PER_JOB: "AssocMaxGRESMinutesPerJob",
    JobStateReason.WAIT_ASSOC_GRP_LIC: "AssocGrpLicense",
    JobStateReason.WAIT_ASSOC_GRP_LIC_MIN: "AssocGrpLicenseMinutes",
    JobStateReason.WAIT_ASSOC_GRP_LIC_RUN_MIN: "AssocGrpLicenseRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_LIC_PER_JOB: "AssocMaxLicensePerJob",
    JobStateReason.WAIT_ASSOC_MAX_LIC_MINS_PER_JOB: "AssocMaxLicenseMinutesPerJob",
    JobStateReason.WAIT_ASSOC_GRP_BB: "AssocGrpBB",
    JobStateReason.WAIT_ASSOC_GRP_BB_MIN: "AssocGrpBBMinutes",
    JobStateReason.WAIT_ASSOC_GRP_BB_RUN_MIN: "AssocGrpBBRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_BB_PER_JOB: "AssocMaxBBPerJob",
    JobStateReason.WAIT_ASSOC_MAX_BB_PER_NODE: "AssocMaxBBPerNode",
    JobStateReason.WAIT_ASSOC_MAX_BB_MINS_PER_JOB: "AssocMaxBBMinutesPerJob",
    JobStateReason.WAIT_QOS_GRP_UNK: "QOSGrpUnknown",
    JobStateReason.WAIT_QOS_GRP_UNK_MIN: "QOSGrpUnknownMinutes",
    JobStateReason.WAIT_QOS_GRP_UNK_RUN_MIN: "QOSGrpUnknownRunMinutes",
    JobStateReason.WAIT_QOS_MAX_UNK_PER_JOB: "QOSMaxUnknownPerJob",
    JobStateReason.WAIT_QOS_MAX_UNK_PER_NODE: "QOSMaxUnknownPerNode",
    JobStateReason.WAIT_QOS_MAX_UNK_PER_USER: "QOSMaxUnknownPerUser",
    JobStateReason.WAIT_QOS_MAX_UNK_MINS_PER_JOB: "QOSMaxUnknownMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_UNK: "QOSMinUnknown",
    JobStateReason.WAIT_QOS_MAX_CPU_PER_NODE: "QOSMaxCpuPerNode",
    JobStateReason.WAIT_QOS_GRP_MEM_MIN: "QOSGrpMemoryMinutes",
    JobStateReason.WAIT_QOS_GRP_MEM_RUN_MIN: "QOSGrpMemoryRunMinutes",
    JobStateReason.WAIT_QOS_MAX_MEM_PER_JOB: "QOSMaxMemoryPerJob",
    JobStateReason.WAIT_QOS_MAX_MEM_PER_NODE: "QOSMaxMemoryPerNode",
    JobStateReason.WAIT_QOS_MAX_MEM_PER_USER: "QOSMaxMemoryPerUser",
    JobStateReason.WAIT_QOS_MAX_MEM_MINS_PER_JOB: "QOSMaxMemoryMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_MEM: "QOSMinMemory",
    JobStateReason.WAIT_QOS_GRP_NODE_MIN: "QOSGrpNodeMinutes",
    JobStateReason.WAIT_QOS_GRP_NODE_RUN_MIN: "QOSGrpNodeRunMinutes",
    JobStateReason.WAIT_QOS_MAX_NODE_MINS_PER_JOB: "QOSMaxNodeMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_NODE: "QOSMinNode",
    JobStateReason.WAIT_QOS_GRP_ENERGY: "QOSGrpEnergy",
    JobStateReason.WAIT_QOS_GRP_ENERGY_MIN: "QOSGrpEnergyMinutes",
    JobStateReason.WAIT_QOS_GRP_ENERGY_RUN_MIN: "QOSGrpEnergyRunMinutes",
    JobStateReason.WAIT_QOS_MAX_ENERGY_PER_JOB: "QOSMaxEnergyPerJob",
    JobStateReason.WAIT_QOS_MAX_ENERGY_PER_NODE: "QOSMaxEnergyPerNode",
    JobStateReason.WAIT_QOS_MAX_ENERGY_PER_USER: "QOSMaxEnergyPerUser",
    JobStateReason.WAIT_QOS_MAX_ENERGY_MINS_PER_JOB: "QOSMaxEnergyMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_ENERGY: "QOSMinEnergy",
    JobStateReason.WAIT_QOS_GRP_GRES: "QOSGrpGRES",
    JobStateReason.WAIT_QOS_GRP_GRES_MIN: "QOSGrpGRESMinutes",
    JobStateReason.WAIT_QOS_GRP_GRES_RUN_MIN: "QOSGrpGRESRunMinutes",
    JobStateReason.WAIT_QOS_MAX_GRES_PER_JOB: "QOSMaxGRESPerJob",
    JobStateReason.WAIT_QOS_MAX_GRES_PER_NODE: "QOSMaxGRESPerNode",
    JobStateReason.WAIT_QOS_MAX_GRES_PER_USER: "QOSMaxGRESPerUser",
    JobStateReason.WAIT_QOS_MAX_GRES_MINS_PER_JOB: "QOSMaxGRESMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_GRES: "QOSMinGRES",
    JobStateReason.WAIT_QOS_GRP_LIC: "QOSGrpLicense",
    JobStateReason.WAIT_QOS_GRP_LIC_MIN: "QOSGrpLicenseMinutes",
    JobStateReason.WAIT_QOS_GRP_LIC_RUN_MIN: "QOSGrpLicenseRunMinutes",
    JobStateReason.WAIT_QOS_MAX_LIC_PER_JOB: "QOSMaxLicensePerJob",
    JobStateReason.WAIT_QOS_MAX_LIC_PER_USER: "QOSMaxLicensePerUser",
    JobStateReason.WAIT_QOS_MAX_LIC_MINS_PER_JOB: "QOSMaxLicenseMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_LIC: "QOSMinLicense",
    JobStateReason.WAIT_QOS_GRP_BB: "QOSGrpBB",
    JobStateReason.WAIT_QOS_GRP_BB_MIN: "QOSGrpBBMinutes",
    JobStateReason.WAIT_QOS_GRP_BB_RUN_MIN: "QOSGrpBBRunMinutes",
    JobStateReason.WAIT_QOS_MAX_BB_PER_JOB: "QOSMaxBBPerJob",
    JobStateReason.WAIT_QOS_MAX_BB_PER_NODE: "QOSMaxBBPerNode",
    JobStateReason.WAIT_QOS_MAX_BB_PER_USER: "QOSMaxBBPerUser",
    JobStateReason.WAIT_QOS_MAX_BB_MINS_PER_JOB: "AssocMaxBBMinutesPerJob",
    JobStateReason.WAIT_QOS_MIN_BB: "QOSMinBB",
    JobStateReason.FAIL_DEADLINE: "DeadLine",
    JobStateReason.WAIT_QOS_MAX_BB_PER_ACCT: "MaxBBPerAccount",
    JobStateReason.WAIT_QOS_MAX_CPU_PER_ACCT: "MaxCpuPerAccount",
    JobStateReason.WAIT_QOS_MAX_ENERGY_PER_ACCT: "MaxEnergyPerAccount",
    JobStateReason.WAIT_QOS_MAX_GRES_PER_ACCT: "MaxGRESPerAccount",
    JobStateReason.WAIT_QOS_MAX_NODE_PER_ACCT: "MaxNodePerAccount",
    JobStateReason.WAIT_QOS_MAX_LIC_PER_ACCT: "MaxLicensePerAccount",
    JobStateReason.WAIT_QOS_MAX_MEM_PER_ACCT: "MaxMemoryPerAccount",
    JobStateReason.WAIT_QOS_MAX_UNK_PER_ACCT: "MaxUnknownPerAccount",
    JobStateReason.WAIT_QOS_MAX_JOB_PER_ACCT: "MaxJobsPerAccount",
    JobStateReason.WAIT_QOS_MAX_SUB_JOB_PER_ACCT: "MaxSubmitJobsPerAccount",
    JobStateReason.WAIT_PART_CONFIG: "PartitionConfig",
    JobStateReason.WAIT_ACCOUNT_POLICY: "AccountingPolicy",
    JobStateReason.WAIT_FED_JOB_LOCK: "FedJobLock",
    JobStateReason.FAIL_OOM: "OutOfMemory",
    JobStateReason.WAIT_PN_MEM_LIMIT: "MaxMemPerLimit",
    JobStateReason.WAIT_ASSOC_GRP_BILLING: "AssocGrpBilling",
    JobStateReason.WAIT_ASSOC_GRP_BILLING_MIN: "AssocGrpBillingMinutes",
    JobStateReason.WAIT_ASSOC_GRP_BILLING_RUN_MIN: "AssocGrpBillingRunMinutes",
    JobStateReason.WAIT_ASSOC_MAX_BILLING_PER_JOB: "AssocMaxBillingPerJob",
    JobStateReason.WAIT_ASSOC_MAX_BILLING_PER_NODE: "AssocMaxBillingPerNode",
    JobStateReason.WAIT_ASSOC_MAX_BILLING_MINS_PER_JOB: "AssocMaxBillingMinutesPerJob",
    JobStateReason.WAIT_QOS_GRP_BILLING: "QOSGrpBilling",
    JobStateReason.WAIT_QOS_GRP_BILLING_MIN: "QOSGrpBillingMinutes",
    JobStateReason.WAIT_QOS_GRP_BILLING_RUN_MIN: "QOSGrpBillingRunMinutes",
    JobStateReason.WAIT_QOS_MAX_BILLING_PER_JOB: "QOSMaxBillingPerJob",
    JobStateReason.WAIT_QOS_MAX_BILLING_PER_NODE: "QOSMaxBillingPerNode",
    JobStateReason.WAIT_QOS_MAX_BILLING_PER_USER: "QOSMaxBillingPerUser",
    JobStateReason.WAIT_QOS_MAX_BILLING_MINS_PER_JOB: "QOSMaxBillingMinutesPerJob",
    JobStateReason.WAIT_QOS_MAX_BILLING_PER_ACCT: "MaxBillingPerAccount",
    JobStateReason.WAIT_QOS_MIN_BILLING: "QOSMinBilling",
    JobStateReason.WAIT_RESV_DELETED: "ReservationDeleted",
}


class JobState(IntEnum):
    """enum job_states: the base state is the low 8 bits of job_state."""

    PENDING = 0
    RUNNING = 1
    SUSPENDED = 2
    COMPLETE = 3
    CANCELLED = 4
    FAILED = 5
    TIMEOUT = 6
    NODE_FAIL = 7
    PREEMPTED = 8
    BOOT_FAIL = 9
    DEADLINE = 10
    OOM = 11


JOB_STATE_BASE = 0xFF


class JobStateFlag:
    """Flag bits (plain ints, see JobFlag)."""

    LAUNCH_FAILED = 0x100
    UPDATE_DB = 0x200
    REQUEUE = 0x400
    REQUEUE_HOLD = 0x800
    SPECIAL_EXIT = 0x1000
    RESIZING = 0x2000
    CONFIGURING = 0x4000
    COMPLETING = 0x8000
    STOPPED = 0x10000
    RECONFIG_FAIL = 0x20000
    POWER_UP_NODE = 0x40000
    REVOKED = 0x80000
    REQUEUE_FED = 0x100000
    RESV_DEL_HOLD = 0x200000
    SIGNALING = 0x400000
    STAGE_OUT = 0x800000


class NodeState(IntEnum):
    """enum node_states: the base state is the low 4 bits of node_state."""

    UNKNOWN = 0
    DOWN = 1
    IDLE = 2
    ALLOCATED = 3
    ERROR = 4
    MIXED = 5
    FUTURE = 6


NODE_STATE_BASE = 0x0F


class NodeStateFlag:
    """Flag bits (plain ints, see JobFlag)."""

    NET = 0x10
    RES = 0x20
    UNDRAIN = 0x40
    CLOUD = 0x80
    RESUME = 0x100
    DRAIN = 0x200
    COMPLETING = 0x400
    NO_RESPOND = 0x800
    POWERED_DOWN = 0x1000
    FAIL = 0x2000
    POWERING_UP = 0x4000
    MAINT = 0x8000
    REBOOT_REQUESTED = 0x10000
    REBOOT_CANCEL = 0x20000
    POWERING_DOWN = 0x40000
    DYNAMIC_FUTURE = 0x80000
    REBOOT_ISSUED = 0x100000
    PLANNED = 0x200000
    INVALID_REG = 0x400000
    POWER_DOWN = 0x800000
    POWER_UP = 0x1000000
    POWER_DRAIN = 0x2000000
    DYNAMIC_NORM = 0x4000000


class ShowFlags(IntFlag):
    ALL = 0x1
    DETAIL = 0x2
    MIXED = 0x8
    LOCAL = 0x10
    SIBLING = 0x20
    FEDERATION = 0x40
    FUTURE = 0x80


class KillFlags(IntFlag):
    BATCH = 0x1
    ARRAY_TASK = 0x2
    STEPS_ONLY = 0x4
    FULL_JOB = 0x8
    FED_REQUEUE = 0x10
    HURRY = 0x20
    OOM = 0x40
    NO_SIBS = 0x80
    JOB_RESV = 0x100


class PartitionFlag(IntFlag):
    DEFAULT = 0x1
    HIDDEN = 0x2
    NO_ROOT = 0x4
    ROOT_ONLY = 0x8
    REQ_RESV = 0x10
    LLN = 0x20
    EXCLUSIVE_USER = 0x40


class PartitionState(IntEnum):
    INACTIVE = 0
    DOWN = 1
    DRAIN = 2
    UP = 3


# job_desc bitflags (slurm.h) that the controller reads or sets
class JobFlag:
    """job_desc / job record bitflags (slurm.h SLURM_BIT values).

    Plain int constants, not an IntFlag (same for JobStateFlag and NodeStateFlag): they are combined
    with job and node states in every scheduling pass, and enum flag operators cost a microsecond each.
    """

    KILL_INV_DEP = 1 << 0
    NO_KILL_INV_DEP = 1 << 1
    HAS_STATE_DIR = 1 << 2
    BACKFILL_TEST = 1 << 3
    GRES_ENFORCE_BIND = 1 << 4
    TEST_NOW_ONLY = 1 << 5
    JOB_SEND_ENV = 1 << 6
    SPREAD_JOB = 1 << 8
    USE_MIN_NODES = 1 << 9
    JOB_KILL_HURRY = 1 << 10
    TRES_STR_CALC = 1 << 11
    SIB_JOB_FLUSH = 1 << 12
    HET_JOB_FLAG = 1 << 13
    JOB_NTASKS_SET = 1 << 14
    JOB_CPUS_SET = 1 << 15
    BF_WHOLE_NODE_TEST = 1 << 16
    TOP_PRIO_TMP = 1 << 17
    JOB_ACCRUE_OVER = 1 << 18
    GRES_DISABLE_BIND = 1 << 19
    JOB_WAS_RUNNING = 1 << 20
    RESET_ACCRUE_TIME = 1 << 21
    CRON_JOB = 1 << 22
    JOB_MEM_SET = 1 << 23
    JOB_RESIZED = 1 << 24
    USE_DEFAULT_ACCT = 1 << 25
    USE_DEFAULT_PART = 1 << 26
    USE_DEFAULT_QOS = 1 << 27
    USE_DEFAULT_WCKEY = 1 << 28
    JOB_DEPENDENT = 1 << 29
    JOB_MAGNETIC = 1 << 30
    JOB_PART_ASSIGNED = 1 << 31
    BACKFILL_SCHED = 1 << 32
    BACKFILL_LAST = 1 << 33
