// microbench: doc_index deletes, single-row statements vs one OR statement
#include <sqlite3.h>
#include <cstdio>
#include <unistd.h>
#include <cstdlib>
#include <string>
#include <vector>
#include <valgrind/callgrind.h>
static void ex(sqlite3* db, const char* s){ char* e=nullptr; if(sqlite3_exec(db,s,0,0,&e)!=SQLITE_OK){fprintf(stderr,"%s: %s\n",s,e);exit(1);} }
int main(int argc,char**argv){
  int mode=atoi(argv[1]); // 0 single, 1 OR, 2 single no clear_bindings
  int secure = argc>2? atoi(argv[2]):1;
  sqlite3* db; unlink("/tmp/dw/mb/t.db"); unlink("/tmp/dw/mb/t.db-wal");
  sqlite3_open("/tmp/dw/mb/t.db",&db);
  ex(db,"PRAGMA journal_mode=WAL"); ex(db,"PRAGMA synchronous=NORMAL"); ex(db,"PRAGMA cache_size=-65536");
  if(!secure) ex(db,"PRAGMA secure_delete=OFF");
  ex(db,"CREATE TABLE doc_index(cid INTEGER NOT NULL, path TEXT NOT NULL, val BLOB NOT NULL, item INTEGER NOT NULL, PRIMARY KEY(cid, path, val, item)) WITHOUT ROWID");
  const char* paths[7]={"/id","/pk","/n","/v","/tag","/name","/_ts"};
  int N=20000;
  ex(db,"BEGIN");
  sqlite3_stmt* ins; sqlite3_prepare_v2(db,"INSERT INTO doc_index VALUES(1,?1,?2,?3)",-1,&ins,0);
  auto val=[&](int i,int p){ char b[64]; int n=snprintf(b,64,"\x04%s-%d",paths[p],i*7919%100003); return std::string(b,n);};
  for(int i=0;i<N;i++) for(int p=0;p<7;p++){ auto v=val(i,p); sqlite3_bind_text(ins,1,paths[p],-1,SQLITE_STATIC); sqlite3_bind_blob(ins,2,v.data(),v.size(),SQLITE_TRANSIENT); sqlite3_bind_int64(ins,3,i); sqlite3_step(ins); sqlite3_reset(ins);}
  ex(db,"COMMIT");
  sqlite3_stmt* one; sqlite3_prepare_v3(db,"DELETE FROM doc_index WHERE cid=?1 AND path=?3 AND val=?4 AND item=?2",-1,SQLITE_PREPARE_PERSISTENT,&one,0);
  std::string orsql="DELETE FROM doc_index WHERE ";
  for(int r=0;r<7;r++){ orsql+= std::string(r?" OR ":"")+"(cid=?1 AND path=?"+std::to_string(3+2*r)+" AND val=?"+std::to_string(4+2*r)+" AND item=?2)";}
  sqlite3_stmt* multi; sqlite3_prepare_v3(db,orsql.c_str(),-1,SQLITE_PREPARE_PERSISTENT,&multi,0);
  int M=1000;
  CALLGRIND_TOGGLE_COLLECT;
  for(int k=0;k<M;k++){
    if(k%5==0) ex(db,"BEGIN");
    int i=k*13%N;
    std::string v[7]; for(int p=0;p<7;p++) v[p]=val(i,p);
    if(mode==1){
      sqlite3_bind_int64(multi,1,1); sqlite3_bind_int64(multi,2,i);
      for(int p=0;p<7;p++){ sqlite3_bind_text(multi,3+2*p,paths[p],-1,SQLITE_STATIC); sqlite3_bind_blob(multi,4+2*p,v[p].data(),v[p].size(),SQLITE_STATIC);}
      if(sqlite3_step(multi)!=SQLITE_DONE) {fprintf(stderr,"err %s\n",sqlite3_errmsg(db));}
      if(sqlite3_changes(db)!=7) fprintf(stderr,"changes %d\n",sqlite3_changes(db));
      sqlite3_reset(multi); sqlite3_clear_bindings(multi);
    } else {
      for(int p=0;p<7;p++){
        sqlite3_bind_int64(one,1,1); sqlite3_bind_int64(one,2,i);
        sqlite3_bind_text(one,3,paths[p],-1,SQLITE_STATIC); sqlite3_bind_blob(one,4,v[p].data(),v[p].size(),SQLITE_STATIC);
        sqlite3_step(one); if(sqlite3_changes(db)!=1) fprintf(stderr,"c1\n");
        sqlite3_reset(one); if(mode!=2) sqlite3_clear_bindings(one);
      }
    }
    if(k%5==4) ex(db,"COMMIT");
  }
  CALLGRIND_TOGGLE_COLLECT;
  sqlite3_close(db);
}
