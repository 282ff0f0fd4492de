/*
 * jexc.h: the Java exception classes the router names in Hadoop IPC errors.
 * Hadoop's clients match them by name (RemoteException.unwrapRemoteException,
 * the Go client's error mapping, retry policies), so each is spelled once,
 * here, exactly as Hadoop's class is called.
 */
#ifndef FR_JEXC_H
#define FR_JEXC_H

#define JEXC_IO "java.io.IOException"
#define JEXC_FILE_NOT_FOUND "java.io.FileNotFoundException"
#define JEXC_UNSUPPORTED "java.lang.UnsupportedOperationException"
#define JEXC_IPC "org.apache.hadoop.ipc.IpcException"
#define JEXC_STANDBY "org.apache.hadoop.ipc.StandbyException"
#define JEXC_NO_SUCH_PROTOCOL "org.apache.hadoop.ipc.RpcNoSuchProtocolException"
#define JEXC_NO_SUCH_METHOD "org.apache.hadoop.ipc.RpcNoSuchMethodException"
#define JEXC_ACCESS_CONTROL "org.apache.hadoop.security.AccessControlException"
#define JEXC_AUTHORIZATION "org.apache.hadoop.security.authorize.AuthorizationException"
#define JEXC_INVALID_PATH "org.apache.hadoop.fs.InvalidPathException"
#define JEXC_FILE_ALREADY_EXISTS "org.apache.hadoop.fs.FileAlreadyExistsException"
#define JEXC_LEASE_EXPIRED "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException"
#define JEXC_NS_QUOTA_EXCEEDED "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException"
#define JEXC_DS_QUOTA_EXCEEDED "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException"

#endif
