# fb303.thrift -- the small status/metrics base service that the Hive
# metastore service extends.  Only the wire facts matter to fedrouter:
# method names, argument ids and types, result types.  Inherited methods
# travel under their plain names on the metastore socket.

namespace py fb303
# c_glib: same prefix as hive_metastore.thrift, because the c_glib generator
# names the parent service header with the child's prefix.
namespace c_glib Hms

# Health reported by getStatus().
enum fb_status {
  DEAD     = 0,
  STARTING = 1,
  ALIVE    = 2,
  STOPPING = 3,
  STOPPED  = 4,
  WARNING  = 5,
}

service FacebookService {
  string              getName()
  string              getVersion()
  fb_status           getStatus()
  string              getStatusDetails()
  map<string, i64>    getCounters()
  i64                 getCounter(1: string key)
  void                setOption(1: string key, 2: string value)
  string              getOption(1: string key)
  map<string, string> getOptions()
  string              getCpuProfile(1: i32 profileDurationInSec)
  i64                 aliveSince()
  oneway void         reinitialize()
  oneway void         shutdown()
}
