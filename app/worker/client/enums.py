from enum import Enum


class AuditAction(str, Enum):
    PURGE_JOB = "PURGE_JOB"
    DELETE_JOBS = "DELETE_JOBS"
    CANCEL_JOBS = "CANCEL_JOBS"
    CREATE_API_KEY = "CREATE_API_KEY"
    REVOKE_API_KEY = "REVOKE_API_KEY"
    UPDATE_ANALYZER = "UPDATE_ANALYZER"
    ADD_ANALYZER = "ADD_ANALYZER"
    LOCK_USER = "LOCK_USER"
    UNLOCK_USER = "UNLOCK_USER"
    CREATE_ORGANIZATION = "CREATE_ORGANIZATION"


class JobOrderField(str, Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    START_DATE = "START_DATE"
    END_DATE = "END_DATE"
    STATUS = "STATUS"
    TLP = "TLP"
    ANALYZER_NAME = "ANALYZER_NAME"
    DATA_TYPE = "DATA_TYPE"
    VERDICT = "VERDICT"


class JobPriority(str, Enum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class JobStatsDimension(str, Enum):
    STATUS = "STATUS"
    ANALYZER = "ANALYZER"
    DATA_TYPE = "DATA_TYPE"
    TLP = "TLP"
    VERDICT = "VERDICT"
    TIME = "TIME"


class JobStatus(str, Enum):
    WAITING = "WAITING"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    DELETED = "DELETED"


class JobTimeField(str, Enum):
    CREATED_AT = "CREATED_AT"
    START_DATE = "START_DATE"
    END_DATE = "END_DATE"
    UPDATED_AT = "UPDATED_AT"


class LeaseState(str, Enum):
    HELD = "HELD"
    CANCELLED = "CANCELLED"
    LOST = "LOST"


class OrderDirection(str, Enum):
    ASC = "ASC"
    DESC = "DESC"


class QueueReason(str, Enum):
    RATE_LIMITED = "RATE_LIMITED"
    CONCURRENCY_LIMITED = "CONCURRENCY_LIMITED"
    RETRY_BACKOFF = "RETRY_BACKOFF"


class QueueState(str, Enum):
    QUEUED = "QUEUED"
    CLAIMED = "CLAIMED"


class RateUnit(str, Enum):
    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"
    MONTH = "MONTH"


class Role(str, Enum):
    READ = "READ"
    ANALYZE = "ANALYZE"
    ORGADMIN = "ORGADMIN"
    WORKER = "WORKER"


class TaxonomyLevel(str, Enum):
    INFO = "INFO"
    SAFE = "SAFE"
    SUSPICIOUS = "SUSPICIOUS"
    MALICIOUS = "MALICIOUS"


class TimeBucket(str, Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"


class TimeMatch(str, Enum):
    ANY = "ANY"
    ALL = "ALL"


class TqlEntity(str, Enum):
    JOB = "JOB"
    ANALYZER = "ANALYZER"


class TqlFieldType(str, Enum):
    STRING = "STRING"
    INT = "INT"
    DATETIME = "DATETIME"
    ENUM = "ENUM"
    ID = "ID"
    BOOLEAN = "BOOLEAN"
    RELATION = "RELATION"


class WorkerSignalKind(str, Enum):
    CANCEL = "CANCEL"
    JOBS_AVAILABLE = "JOBS_AVAILABLE"
