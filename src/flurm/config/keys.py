"""The keys SLURM 22.05 accepts in slurm.conf and in its NodeName/PartitionName/... lines, with types.

From the option tables of src/common/read_config.c (slurm_conf_options, _nodename_options,
_partition_options, _downnodes_options, _nodeset_options). Keys are stored lower-case; lookups are
case-insensitive, as in SLURM.
"""

from __future__ import annotations

from flurm.config.values import Kind

__all__ = ["DOWNNODES_KEYS", "LINE_KEYS", "NODESET_KEYS", "NODE_KEYS", "PARTITION_KEYS", "TOP_KEYS"]


def _table(spec: str) -> dict[str, Kind]:
    table: dict[str, Kind] = {}
    for item in spec.split():
        name, _, kind = item.partition(":")
        table[name.lower()] = kind or "str"  # type: ignore[assignment]
    return table


TOP_KEYS: dict[str, Kind] = _table(
    """
    AccountingStorageTRES AccountingStorageEnforce AccountingStorageExternalHost AccountingStorageHost
    AccountingStorageBackupHost AccountingStorageLoc AccountingStorageParameters AccountingStoragePass
    AccountingStoragePort:u16 AccountingStorageType AccountingStorageUser AccountingStoreFlags
    AccountingStoreJobComment:bool AcctGatherEnergyType AcctGatherNodeFreq:u16 AcctGatherProfileType
    AcctGatherInterconnectType AcctGatherInfinibandType AcctGatherFilesystemType
    AllowSpecResourcesUsage:bool AuthAltTypes AuthAltParameters AuthInfo AuthType BackupAddr
    BackupController BatchStartTimeout:u16 BcastExclude BcastParameters BurstBufferParameters
    BurstBufferType CoreSpecPlugin CliFilterPlugins ClusterName CommunicationParameters
    CompleteWait:u16 ControlAddr ControlMachine CpuFreqDef CpuFreqGovernors CredType CryptoType
    DebugFlags DefCPUPerGPU:u64 DefMemPerCPU:u64 DefMemPerGPU:u64 DefMemPerNode:u64
    DependencyParameters DisableRootJobs:bool EioTimeout:u16 EnforcePartLimits Epilog
    EpilogMsgTime:u32 EpilogSlurmctld ExtSensorsType ExtSensorsFreq:u16 FairShareDampeningFactor:u16
    FastSchedule:u16 FederationParameters FirstJobId:u32 GetEnvTimeout:u16 GresTypes
    GroupUpdateForce:u16 GroupUpdateTime:u16 GpuFreqDef HealthCheckInterval:u16 HealthCheckNodeState
    HealthCheckProgram InteractiveStepOptions InactiveLimit:u16 JobAcctGatherType
    JobAcctGatherFrequency JobAcctGatherParams JobCompHost JobCompLoc JobCompParams JobCompPass
    JobCompPort:u32 JobCompType JobContainerType JobCompUser JobCredentialPrivateKey
    JobCredentialPublicCertificate JobFileAppend:u16 JobRequeue:u16 JobSubmitPlugins
    KeepAliveTime:u32 KillOnBadExit:u16 KillWait:u16 LaunchParameters LaunchType Licenses
    LogTimeFormat MailDomain MailProg MaxArraySize:u32 MaxDBDMsgs:u32 MaxJobCount:u32
    MaxNodeCount:u32 MaxJobId:u32 MaxMemPerCPU:u64 MaxMemPerNode:u64 MaxStepCount:u32
    MaxTasksPerNode:u16 MCSParameters MCSPlugin MessageTimeout:u16 MinJobAge:u32 MpiDefault
    MpiParams NodeFeaturesPlugins OverTimeLimit:u16 PluginDir PlugStackConfig PowerParameters
    PowerPlugin PreemptMode PreemptType PreemptExemptTime PrEpParameters PrEpPlugins
    PriorityDecayHalfLife PriorityCalcPeriod PriorityFavorSmall:bool PriorityMaxAge
    PriorityParameters PriorityUsageResetPeriod PriorityType PriorityFlags
    PrioritySiteFactorParameters PrioritySiteFactorPlugin PriorityWeightAge:u32
    PriorityWeightAssoc:u32 PriorityWeightFairshare:u32 PriorityWeightJobSize:u32
    PriorityWeightPartition:u32 PriorityWeightQOS:u32 PriorityWeightTRES PrivateData ProctrackType
    Prolog PrologSlurmctld PrologEpilogTimeout:u16 PrologFlags PropagatePrioProcess:u16
    PropagateResourceLimitsExcept PropagateResourceLimits RebootProgram ReconfigFlags RequeueExit
    RequeueExitHold ResumeFailProgram ResumeProgram ResumeRate:u16 ResumeTimeout:u16 ResvEpilog
    ResvOverRun:u16 ResvProlog ReturnToService:u16 RoutePlugin SallocDefaultCommand
    SbcastParameters SchedulerAuth SchedulerParameters SchedulerTimeSlice:u16 SchedulerType
    ScronParameters SelectType SelectTypeParameters SlurmUser SlurmdUser SlurmctldAddr
    SlurmctldDebug SlurmctldLogFile SlurmctldPidFile SlurmctldPlugstack SlurmctldPort
    SlurmctldPrimaryOffProg SlurmctldPrimaryOnProg SlurmctldSyslogDebug SlurmctldTimeout:u16
    SlurmctldParameters SlurmdDebug SlurmdLogFile SlurmdParameters SlurmdPidFile SlurmdPort:u32
    SlurmdSpoolDir SlurmdSyslogDebug SlurmdTimeout:u16 SlurmSchedLogFile SlurmSchedLogLevel:u16
    SrunEpilog SrunProlog SrunPortRange StateSaveLocation SuspendExcNodes SuspendExcParts
    SuspendProgram SuspendRate:u16 SuspendTime SuspendTimeout:u16 SwitchParameters SwitchType
    TaskEpilog TaskProlog TaskPlugin TaskPluginParam TCPTimeout:u16 TmpFS TopologyParam
    TopologyPlugin TrackWCKey:bool TreeWidth:u16 UnkillableStepProgram UnkillableStepTimeout:u16
    UsePAM:bool VSizeFactor:u16 WaitTime:u16 X11Parameters
    """
)

# Keys whose every occurrence is a record of its own (S_P_ARRAY; the handler reads the rest of the line).
LINE_KEYS = frozenset({"downnodes", "frontendname", "nodename", "nodeset", "partitionname", "slurmctldhost"})

NODE_KEYS: dict[str, Kind] = _table(
    """
    BcastAddr Boards:u16 CoreSpecCount:u16 CoresPerSocket:u16 CPUs:u16 CPUSpecList CpuBind Feature
    Features Gres MemSpecLimit:u64 NodeAddr NodeHostname Port Procs:u16 RealMemory:u64 Reason
    Sockets:u16 SocketsPerBoard:u16 State ThreadsPerCore:u16 TmpDisk:u32 TRESWeights Weight:u32
    """
)

PARTITION_KEYS: dict[str, Kind] = _table(
    """
    AllocNodes AllowAccounts AllowGroups AllowQos Alternate CpuBind DefCPUPerGPU:u64 DefMemPerCPU:u64
    DefMemPerGPU:u64 DefMemPerNode:u64 Default:bool DefaultTime DenyAccounts DenyQos
    DisableRootJobs:bool ExclusiveUser:bool GraceTime:u32 Hidden:bool LLN:bool MaxCPUsPerNode:u32
    MaxMemPerCPU:u64 MaxMemPerNode:u64 MaxTime MaxNodes:u32 MinNodes:u32 Nodes OverSubscribe
    OverTimeLimit PreemptMode Priority:u16 PriorityJobFactor:u16 PriorityTier:u16 QOS RootOnly:bool
    ReqResv:bool ResumeTimeout:u16 SelectTypeParameters Shared State SuspendTime SuspendTimeout:u16
    TRESBillingWeights
    """
)

DOWNNODES_KEYS: dict[str, Kind] = _table("Reason State")
NODESET_KEYS: dict[str, Kind] = _table("Feature Nodes")
